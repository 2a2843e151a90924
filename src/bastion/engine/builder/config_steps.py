"""The instructions that change only the image config: ENV, LABEL, CMD, ENTRYPOINT, USER,
EXPOSE, VOLUME, STOPSIGNAL, HEALTHCHECK (stored as Docker stores it: `Healthcheck` with
`Test` and durations in nanoseconds), SHELL, ONBUILD (stored, not run) and MAINTAINER (the
config's `author`). They work on the whole image config document (its `config` object)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bastion.engine.builder import dockerfile
from bastion.engine.errors import DockerfileError

if TYPE_CHECKING:
    from bastion.engine.builder.dockerfile import Instruction

DEFAULT_SHELL = ("/bin/sh", "-c")


def command(instruction: Instruction, conf: dict[str, Any]) -> list[str]:
    """A RUN/CMD/ENTRYPOINT's argv: the exec form as written, the shell form after SHELL."""
    if instruction.json is not None:
        return list(instruction.json)
    shell = list(conf.get("Shell") or DEFAULT_SHELL)
    return [*shell, instruction.text] if instruction.text else []


def apply_to_config(
    instruction: Instruction, config: dict[str, Any], env: dict[str, str], escape: str, where: str
) -> None:
    """Apply a config-only instruction to the image config document `config`; `env` is what
    `$VAR` sees."""
    keyword, text = instruction.keyword, instruction.text
    conf: dict[str, Any] = config.setdefault("config", {})
    if keyword == "ENV":
        for name, value in dockerfile.key_values(text, env, escape, keyword="ENV"):
            entries = [e for e in conf.get("Env") or [] if e.partition("=")[0] != name]
            conf["Env"] = [*entries, f"{name}={value}"]
    elif keyword == "LABEL":
        labels = dict(conf.get("Labels") or {})
        for name, value in dockerfile.key_values(text, env, escape, keyword="LABEL"):
            labels[name] = value or ""
        conf["Labels"] = labels
    elif keyword == "CMD":
        conf["Cmd"] = command(instruction, conf)
    elif keyword == "ENTRYPOINT":
        conf["Entrypoint"] = command(instruction, conf)
    elif keyword == "USER":
        conf["User"] = dockerfile.expand_word(text, env, escape)
    elif keyword == "EXPOSE":
        ports = dict(conf.get("ExposedPorts") or {})
        for port in dockerfile.expand_words(text, env, escape):
            ports[port if "/" in port else f"{port}/tcp"] = {}
        conf["ExposedPorts"] = ports
    elif keyword == "VOLUME":
        volumes = dict(conf.get("Volumes") or {})
        names = instruction.json or tuple(dockerfile.expand_words(text, env, escape))
        for name in names:
            if not name.strip():
                raise DockerfileError("VOLUME specified can not be an empty string", where=where)
            volumes[name] = {}
        conf["Volumes"] = volumes
    elif keyword == "STOPSIGNAL":
        conf["StopSignal"] = dockerfile.expand_word(text, env, escape)
    elif keyword == "HEALTHCHECK":
        conf["Healthcheck"] = healthcheck(instruction, where)
    elif keyword == "SHELL":
        if not instruction.json:
            raise DockerfileError("SHELL requires the arguments as a JSON array", where=where)
        conf["Shell"] = list(instruction.json)
    elif keyword == "ONBUILD":
        conf["OnBuild"] = [*(conf.get("OnBuild") or []), text]
    elif keyword == "MAINTAINER":
        config["author"] = text


def healthcheck(instruction: Instruction, where: str) -> dict[str, Any]:
    """`HEALTHCHECK NONE` or `HEALTHCHECK [--interval --timeout --start-period --retries] CMD
    ...` as the config's `Healthcheck`."""
    text = instruction.text.strip()
    if text.upper() == "NONE":
        return {"Test": ["NONE"]}
    word, _, rest = text.partition(" ")
    if word.upper() != "CMD":
        raise DockerfileError("HEALTHCHECK takes NONE or [OPTIONS] CMD command", where=where)
    rest = rest.strip()
    try:
        value = json.loads(rest) if rest.startswith("[") else None
    except ValueError:
        value = None
    test = ["CMD", *value] if isinstance(value, list) else ["CMD-SHELL", rest]
    check: dict[str, Any] = {"Test": test}
    for flag, key in (
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start-period", "StartPeriod"),
    ):
        if flag in instruction.flags:
            check[key] = duration_ns(instruction.flags[flag], where)
    if "retries" in instruction.flags:
        try:
            check["Retries"] = int(instruction.flags["retries"])
        except ValueError:
            raise DockerfileError("HEALTHCHECK --retries takes a number", where=where) from None
    return check


def duration_ns(text: str, where: str) -> int:
    """A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds (the parser `run --health-*`
    uses too)."""
    from bastion.engine.health_config import duration_ns as parse

    try:
        return parse(text)
    except ValueError:
        raise DockerfileError(
            f"invalid duration {text!r}", where=where, hint="write 30s, 1m30s"
        ) from None
