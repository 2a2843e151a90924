"""The Dockerfile parser, its word lexer and substitution, and `.dockerignore` matching."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from bastion.engine.builder.context import BuildContext, IgnoreRules
from bastion.engine.builder.dockerfile import expand_word, expand_words, key_values, parse
from bastion.engine.errors import BuildStepError, DockerfileError

if TYPE_CHECKING:
    from pathlib import Path


def test_continuations_comments_and_forms() -> None:
    parsed = parse(
        "# syntax=docker/dockerfile:1\n"
        "FROM busybox AS base\n"
        "\n"
        "# a comment\n"
        "RUN echo one \\\n"
        "  # dropped inside the continuation\n"
        "\n"
        "  && echo two\n"
        'CMD ["sh", "-c", "echo hi"]\n'
        "COPY --from=base --chown=1:2 a b /dest/\n"
        "run [not json\n"
    )
    keywords = [i.keyword for i in parsed.instructions]
    assert keywords == ["FROM", "RUN", "CMD", "COPY", "RUN"]
    run = parsed.instructions[1]
    assert run.text == "echo one && echo two" and run.line == 5 and run.json is None
    assert parsed.instructions[2].json == ("sh", "-c", "echo hi")
    copy = parsed.instructions[3]
    assert copy.flags == {"from": "base", "chown": "1:2"} and copy.text == "a b /dest/"
    assert parsed.instructions[4].json is None  # not JSON: the shell form, as Docker


def test_escape_directive() -> None:
    parsed = parse("# escape=`\nFROM scratch\nRUN dir c:\\ `\n  && echo x\n")
    assert parsed.escape == "`"
    assert parsed.instructions[1].text == "dir c:\\ && echo x"


def test_errors_name_the_line() -> None:
    with pytest.raises(DockerfileError) as err:
        parse("FROM scratch\nFROB x\n", name="Dockerfile.dev")
    assert err.value.where == "Dockerfile.dev:2" and "FROB" in err.value.message
    with pytest.raises(DockerfileError, match="requires at least one argument"):
        parse("FROM scratch\nWORKDIR\n")
    with pytest.raises(DockerfileError, match="no instructions"):
        parse("# only a comment\n\n")
    with pytest.raises(DockerfileError, match="RUN --mount is not supported") as flag:
        parse("FROM scratch\nRUN --mount=type=cache,target=/x true\n")
    assert flag.value.where == "Dockerfile:2"
    with pytest.raises(DockerfileError, match="invalid escape"):
        parse("# escape=x\nFROM scratch\n")


def test_substitution() -> None:
    env = {"A": "alpha", "EMPTY": "", "SP": "a b"}
    # `:-` tests set and non-empty, `-` only set
    assert expand_word("${A}-$A-${NOPE:-dflt}-${EMPTY:-e}-${EMPTY-set}-${NOPE-unset}", env) == (
        "alpha-alpha-dflt-e--unset"
    )
    assert expand_word("${A:+yes}${NOPE:+no}", env) == "yes"
    assert expand_word("'$A' \"$A\" \\$A", env) == "$A alpha $A"
    assert expand_words('one "two three" $SP', env) == ["one", "two three", "a", "b"]
    assert expand_word("${NOPE:-${A}}", env) == "alpha"
    with pytest.raises(DockerfileError, match="missing"):
        expand_word("${A", env)


def test_key_values() -> None:
    env = {"V": "x"}
    assert key_values('A=1 B="two words" C=$V', env, "\\", keyword="ENV") == [
        ("A", "1"),
        ("B", "two words"),
        ("C", "x"),
    ]
    assert key_values("OLD the rest of it", env, "\\", keyword="ENV") == [("OLD", "the rest of it")]
    assert key_values("NAME OTHER=2", env, "\\", keyword="ARG") == [("NAME", None), ("OTHER", "2")]
    with pytest.raises(DockerfileError, match="NAME=VALUE"):
        key_values("A=1 B", env, "\\", keyword="LABEL")


def test_dockerignore_patterns() -> None:
    rules = IgnoreRules(["# c", "*.log", "!keep.log", "build/", "**/tmp", "/docs/*.md"])
    assert rules.ignored("x.log") and not rules.ignored("keep.log")
    assert not rules.ignored("sub/x.log")  # `*` stays within one component
    assert rules.ignored("build/a/b") and rules.ignored("a/b/tmp/c") and rules.ignored("tmp")
    assert rules.ignored("docs/a.md") and not rules.ignored("docs/a/b.md")
    assert not rules.ignored("src/main.py")


def test_context_sources_stay_inside(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "b.txt").write_text("b")
    (tmp_path / "dir" / "c.log").write_text("c")
    (tmp_path / ".dockerignore").write_text("**/*.log\n")
    ctx = BuildContext(str(tmp_path))
    sources = ctx.sources(["*.txt", "dir"], keyword="COPY")
    assert [os.path.basename(s.path) for s in sources] == ["a.txt", "dir"]
    assert [os.path.basename(p) for p in ctx.files(sources[1])] == ["b.txt"]
    digest = ctx.digest(sources)
    (tmp_path / "dir" / "c.log").write_text("changed")  # ignored: the digest holds
    assert ctx.digest(sources) == digest
    (tmp_path / "a.txt").write_text("changed")
    assert ctx.digest(sources) != digest
    with pytest.raises(BuildStepError, match="outside the build context"):
        ctx.sources(["../etc/passwd"], keyword="COPY")
    with pytest.raises(BuildStepError, match="not found"):
        ctx.sources(["c.log"], keyword="COPY")
