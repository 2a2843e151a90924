"""`@record`: frozen, keyword-only value classes without `dataclasses`."""

from __future__ import annotations

import pytest

from bastion._record import fields, record, replace


@record
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()


@record
class Point3(Point):
    z: int = 0


def test_init_defaults_equality_hash_repr() -> None:
    p = Point(x=1)
    assert (p.x, p.y, p.tags) == (1, 0, ())
    assert p == Point(x=1, y=0)
    assert p != Point(x=2)
    assert hash(p) == hash(Point(x=1))
    assert repr(p) == "Point(x=1, y=0, tags=())"
    assert Point(x=1) != Point3(x=1)  # different classes never compare equal


def test_frozen_and_keyword_only() -> None:
    p = Point(x=1)
    with pytest.raises(AttributeError):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p.y
    with pytest.raises(TypeError, match="missing keyword argument 'x'"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword"):
        Point(x=1, w=2)  # type: ignore[call-arg]


def test_inheritance_fields_and_replace() -> None:
    assert fields(Point3) == ("x", "y", "tags", "z")
    q = Point3(x=1, z=3)
    r = replace(q, y=5)
    assert (r.x, r.y, r.z) == (1, 5, 3)
    assert q.y == 0


@record
class Labelled:
    name: str
    labels: dict[str, str] = {}  # noqa: RUF012 (the case under test)
    seen: list[int] = []  # noqa: RUF012


def test_a_mutable_default_is_copied_for_each_record() -> None:
    # dataclasses' `field(default_factory=dict)`: no two records share the default's object
    first, second = Labelled(name="a"), Labelled(name="b")
    first.labels["k"] = "v"
    first.seen.append(1)
    assert (second.labels, second.seen) == ({}, [])
    assert Labelled.labels == {} and Labelled(name="c").labels == {}
    given = {"x": "y"}
    assert Labelled(name="d", labels=given).labels is given  # a given value is kept as is
