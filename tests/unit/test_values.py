"""values.dataclass makes the classes ``dataclasses.dataclass`` makes: each case builds the same class with
both and compares what their instances do."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from mr_storage_initializer import values

Decorator = Callable[..., Any]
BOTH = pytest.mark.parametrize(
    ("make", "field"),
    [(values.dataclass, values.field), (dataclasses.dataclass, dataclasses.field)],
    ids=["values", "dataclasses"],
)


def _point(make: Decorator, field: Callable[..., Any], frozen: bool = True) -> Any:
    @make(frozen=frozen)
    class Point:
        x: int
        y: int = 0
        tags: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
        note: str = field(default="")

    return Point


def _behaviour(cls: Any) -> list[object]:
    """What a user of the class sees: constructor forms, repr, ==, hash."""
    a, b = cls(1, 2), cls(x=1, y=2, tags={"k": "v"})
    return [
        repr(a).replace("<locals>.", ""),
        repr(cls(3, tags={"k": "v"}, note="n")).replace("<locals>.", ""),
        a == b,
        a == cls(1, 3),
        a == cls(1, 2, note="other"),
        a == (1, 2),
        hash(a) == hash(b),
        a.tags == {} and a.tags is not cls(1).tags,
        cls.y,
        "tags" in cls.__dict__,
    ]


@BOTH
def test_a_frozen_value_behaves_as_a_frozen_dataclass(make: Decorator, field: Callable[..., Any]) -> None:
    assert _behaviour(_point(make, field)) == _behaviour(_point(dataclasses.dataclass, dataclasses.field))


@BOTH
def test_assigning_or_deleting_a_field_of_a_frozen_value_raises_attribute_error(
    make: Decorator, field: Callable[..., Any]
) -> None:
    point = _point(make, field)(1)
    with pytest.raises(AttributeError, match="'x'"):
        point.x = 2
    with pytest.raises(AttributeError, match="'x'"):
        del point.x
    assert point.x == 1


@BOTH
def test_a_value_that_is_not_frozen_can_change_and_is_unhashable(make: Decorator, field: Callable[..., Any]) -> None:
    point = _point(make, field, frozen=False)(1)
    point.x = 5
    assert point.x == 5
    with pytest.raises(TypeError, match="unhashable"):
        hash(point)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "missing 1 required"),
        ((1, 2, {}, "n", 5), {}, "positional arguments but 6 were given"),
        ((1,), {"x": 1}, "multiple values for argument 'x'"),
        ((1,), {"z": 1}, "unexpected keyword argument 'z'"),
    ],
)
def test_wrong_constructor_arguments_raise_type_error_as_a_dataclass_does(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    for make, field in ((values.dataclass, values.field), (dataclasses.dataclass, dataclasses.field)):
        with pytest.raises(TypeError, match=message):
            _point(make, field)(*args, **kwargs)


@BOTH
def test_a_subclass_adds_its_fields_after_its_bases(make: Decorator, field: Callable[..., Any]) -> None:
    base = _point(make, field)

    @make(frozen=True)
    class Labelled(base):  # type: ignore[misc,valid-type]
        label: str = "none"

    labelled = Labelled(1, 2, {}, "n", "here")
    assert (labelled.x, labelled.y, labelled.label) == (1, 2, "here")
    assert repr(labelled).endswith("Labelled(x=1, y=2, note='n', label='here')")
    assert labelled != base(1, 2, {}, "n")
    assert labelled == Labelled(1, 2, {"k": "v"}, "n", "here")


@BOTH
def test_methods_the_class_defines_are_kept(make: Decorator, field: Callable[..., Any]) -> None:
    @make(frozen=True)
    class Secret:
        user: str
        password: str

        def __repr__(self) -> str:
            return f"Secret({self.user!r})"

    assert repr(Secret("u", "p")) == "Secret('u')"
    assert Secret("u", "p") == Secret("u", "p")
    assert hash(Secret("u", "p")) == hash(Secret("u", "p"))


def test_replace_makes_a_copy_with_the_changes_through_the_constructor() -> None:
    point = _point(values.dataclass, values.field)(1, 2, {"k": "v"}, "n")
    moved = values.replace(point, y=7)
    assert (moved.x, moved.y, moved.tags, moved.note) == (1, 7, {"k": "v"}, "n")
    assert (point.y, moved.tags is point.tags) == (2, True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        values.replace(point, z=1)


def test_as_dict_gives_the_fields_by_name_in_order() -> None:
    tags = {"k": "v"}
    point = _point(values.dataclass, values.field)(1, 2, tags)
    assert values.as_dict(point) == {"x": 1, "y": 2, "tags": tags, "note": ""}
    assert values.as_dict(point)["tags"] is tags
    assert [f.name for f in values.fields(type(point))] == ["x", "y", "tags", "note"]


def test_a_class_the_decorator_cannot_make_as_a_dataclass_would_is_refused() -> None:
    with pytest.raises(TypeError, match="__post_init__"):

        @values.dataclass(frozen=True)
        class Checked:
            x: int

            def __post_init__(self) -> None:
                pass

    with pytest.raises(TypeError, match="non-default argument 'y' follows default argument"):

        @values.dataclass(frozen=True)
        class Order:
            x: int = 0
            y: int  # type: ignore[misc]

    with pytest.raises(ValueError, match="mutable default"):

        @values.dataclass
        class Shared:
            items: list[int] = []  # type: ignore[misc]  # noqa: RUF012
