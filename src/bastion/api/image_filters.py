"""moby's image filters, for `GET /images/json` and `POST /images/prune`: `dangling`, `label`
(`KEY` or `KEY=VALUE`, every one must match), `reference` (a glob on the name, as the docker
CLI writes it: `alpine`, `alpine:3*`, `docker.io/library/alpine`), `before` and `since` (another
image, by name or id: created before or after it) and, for prune, `until` (a time)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import TYPE_CHECKING

from bastion.api.errors import ApiError

if TYPE_CHECKING:
    from bastion.engine import Engine, ImageRecord

LIST_FILTERS = frozenset({"dangling", "label", "reference", "before", "since"})

Predicate = Callable[["ImageRecord"], bool]


def check(filters: dict[str, set[str]], allowed: frozenset[str]) -> None:
    """A 400 naming a filter the endpoint does not know, or a `dangling` that is no boolean."""
    unknown = sorted(set(filters) - allowed)
    if unknown:
        raise ApiError(400, f"invalid filter {unknown[0]!r}")
    for value in filters.get("dangling", ()):
        if value.lower() not in ("true", "false", "1", "0"):
            raise ApiError(400, f"invalid filter 'dangling={value}'")


def has_labels(engine: Engine, record: ImageRecord, wanted: set[str]) -> bool:
    have = engine.layout.image(record.name).config.labels
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in have or (sep and have[key] != value):
            return False
    return True


def names_of(name: str) -> set[str]:
    """The spellings a `reference` pattern may match: the full name, its repository, and the
    short forms the docker CLI shows (`alpine` for docker.io/library/alpine)."""
    base = name.partition("@")[0]
    repository, _, tag = base.rpartition(":")
    if "/" in tag or not repository:
        repository, tag = base, ""
    spellings = {base, repository}
    for prefix in ("docker.io/library/", "docker.io/"):
        if repository.startswith(prefix):
            short = repository.removeprefix(prefix)
            spellings |= {short, f"{short}:{tag}" if tag else short}
            break
    return spellings


def predicate(engine: Engine, filters: dict[str, set[str]]) -> Predicate:
    """What a record must satisfy (every filter; within one, any value)."""
    from bastion.engine.image_verbs import created_stamp, is_untagged

    tests: list[Predicate] = []
    if "dangling" in filters:
        dangling = {v.lower() in ("true", "1") for v in filters["dangling"]}
        tests.append(lambda r: is_untagged(r.name) in dangling)
    if "label" in filters:
        labels = filters["label"]
        tests.append(lambda r: has_labels(engine, r, labels))
    if "reference" in filters:
        patterns = filters["reference"]
        tests.append(
            lambda r: (
                not is_untagged(r.name)
                and any(fnmatch.fnmatchcase(n, p) for n in names_of(r.name) for p in patterns)
            )
        )
    for key, older in (("before", True), ("since", False)):
        for reference in filters.get(key, ()):
            pivot = engine.image(reference)
            tests.append(_created_test(created_stamp(pivot.created, pivot.pulled), older))
    return lambda r: all(test(r) for test in tests)


def _created_test(at: float, older: bool) -> Predicate:
    from bastion.engine.image_verbs import created_stamp

    def test(record: ImageRecord) -> bool:
        created = created_stamp(record.created, record.pulled)
        return created < at if older else created > at

    return test
