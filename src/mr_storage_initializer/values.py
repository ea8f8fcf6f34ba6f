"""Value classes made as ``dataclasses.dataclass`` makes them, without generating code.

The standard decorator writes each class's ``__init__``, ``__repr__``, ``__eq__``, ``__hash__``,
``__setattr__`` and ``__delattr__`` as source text and compiles it: about 0.4 ms a class on Python 3.11, and
importing :mod:`dataclasses` brings :mod:`inspect`, :mod:`ast`, :mod:`dis` and :mod:`tokenize`. A tiny install
defines about 30 value classes, so that was a fifth of its time. Here the same methods are shared functions
that read the class's field table (about 10 µs a class; an instance takes 0.2-1 µs more to make).

What a class gets, as from ``@dataclasses.dataclass`` with the same arguments: a constructor taking the
fields in order, positionally or by name, with defaults and ``default_factory``; ``repr`` and ``==`` over the
fields (``field(repr=False)`` / ``field(compare=False)`` leave one out), ``==`` only between instances of the
same class; with ``frozen=True`` assignment raises :class:`FrozenInstanceError` and instances hash like the
tuple of their compared fields, without it they are unhashable. A method the class body defines itself is
kept. Fields of a base made here come first. ``__post_init__``, ``InitVar``, ``ClassVar``, ordering and slots
are not supported (the decorator refuses a ``__post_init__``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

_T = TypeVar("_T")
_MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "MISSING"})()
_MUTABLE_DEFAULTS = (list, dict, set)


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen value (``dataclasses.FrozenInstanceError``'s counterpart)."""


class Field:
    """One field: its name, default or default factory, and whether ``repr`` and ``==`` use it."""

    __slots__ = ("compare", "default", "default_factory", "name", "repr")

    def __init__(self, default: Any, default_factory: Any, repr: bool, compare: bool) -> None:
        if default is not _MISSING and default_factory is not _MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.default, self.default_factory, self.repr, self.compare = default, default_factory, repr, compare


def field(
    *,
    default: Any = _MISSING,
    default_factory: Callable[[], Any] = _MISSING,
    repr: bool = True,
    compare: bool = True,
) -> Any:
    """A field's default (or factory of defaults) and whether ``repr`` and ``==`` use it."""
    return Field(default, default_factory, repr, compare)


def fields(value: object) -> tuple[Field, ...]:
    """The fields of a value class or instance, in constructor order."""
    table: dict[str, Field] = type(value).__dict__.get("__value_fields__") or value.__value_fields__  # type: ignore[attr-defined]
    return tuple(table.values())


def as_dict(value: object) -> dict[str, Any]:
    """The fields of ``value`` by name, the values themselves (not copied, nested values not converted)."""
    return {f.name: getattr(value, f.name) for f in fields(value)}


def replace(value: _T, /, **changes: Any) -> _T:
    """A copy of ``value`` with ``changes`` (field name → new value), made through its constructor."""
    for f in fields(value):
        if f.name not in changes:
            changes[f.name] = getattr(value, f.name)
    return type(value)(**changes)


@dataclass_transform(field_specifiers=(field,))
def dataclass(cls: type[_T] | None = None, /, *, frozen: bool = False) -> Any:
    """Make ``cls`` a value class (see the module's text); ``@dataclass`` or ``@dataclass(frozen=True)``."""

    def wrap(cls: type[_T]) -> type[_T]:
        return _make(cls, frozen)

    return wrap if cls is None else wrap(cls)


def _make(cls: type[_T], frozen: bool) -> type[_T]:
    if "__post_init__" in cls.__dict__:
        raise TypeError(f"{cls.__qualname__}: __post_init__ is not supported by values.dataclass")
    table: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        table.update(base.__dict__.get("__value_fields__", {}))
    for name in cls.__dict__.get("__annotations__", {}):  # noqa: RUF063 (inspect is what this module avoids)
        given = cls.__dict__.get(name, _MISSING)
        spec = given if isinstance(given, Field) else Field(given, _MISSING, True, True)
        if isinstance(spec.default, _MUTABLE_DEFAULTS):
            raise ValueError(
                f"mutable default {type(spec.default)} for field {name} is not allowed: use default_factory"
            )
        spec.name = name
        table.pop(name, None)
        table[name] = spec
        if spec.default is _MISSING:
            if given is not _MISSING:
                delattr(cls, name)
        else:
            setattr(cls, name, spec.default)
    _check_order(cls, table)
    own = dict(cls.__dict__)
    cls.__value_fields__ = table  # type: ignore[attr-defined]
    methods: dict[str, Any] = {"__init__": _initializer(cls, table), "__repr__": _repr, "__eq__": _eq}
    if frozen:
        methods.update(__setattr__=_frozen_setattr, __delattr__=_frozen_delattr)
    for name, method in methods.items():
        if name not in own or name.endswith("attr__"):
            setattr(cls, name, method)
    explicit_hash = "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)
    if not explicit_hash:
        cls.__hash__ = _hash if frozen else None  # type: ignore[assignment]
    return cls


def _check_order(cls: type, table: dict[str, Field]) -> None:
    seen_default = False
    for spec in table.values():
        has_default = spec.default is not _MISSING or spec.default_factory is not _MISSING
        if seen_default and not has_default:
            raise TypeError(f"{cls.__qualname__}: non-default argument {spec.name!r} follows default argument")
        seen_default = seen_default or has_default


def _initializer(cls: type, table: dict[str, Field]) -> Callable[..., None]:
    names = tuple(table)
    count = len(names)
    steps = tuple((f.name, f.default, f.default_factory) for f in table.values())
    after = tuple(steps[given:] for given in range(count + 1))  # the fields left after ``given`` positionals
    where = f"{cls.__qualname__}.__init__()"

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        given = len(args)
        if given > count:
            raise TypeError(f"{where} takes {count + 1} positional arguments but {given + 1} were given")
        state = dict(zip(names, args, strict=False))
        if kwargs:
            for name in kwargs:
                if name in state:
                    raise TypeError(f"{where} got multiple values for argument {name!r}")
                if name not in table:
                    raise TypeError(f"{where} got an unexpected keyword argument {name!r}")
            state.update(kwargs)
        for name, default, factory in after[given]:
            if name in state:
                continue
            if default is not _MISSING:
                state[name] = default
            elif factory is not _MISSING:
                state[name] = factory()
            else:
                raise TypeError(f"{where} missing 1 required positional argument: {name!r}")
        # Fields are plain instance attributes: set them as object.__setattr__ would, in field order.
        self.__dict__.update(state if not kwargs else {name: state[name] for name in names})

    return __init__


def _compared(value: Any) -> tuple[Any, ...]:
    return tuple(getattr(value, f.name) for f in value.__value_fields__.values() if f.compare)


def _eq(self: Any, other: object) -> object:
    if other.__class__ is self.__class__:
        return _compared(self) == _compared(other)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(_compared(self))


_in_repr: set[tuple[int, int]] = set()


def _repr(self: Any) -> str:
    key = (id(self), threading.get_ident())
    if key in _in_repr:
        return "..."
    _in_repr.add(key)
    try:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self.__value_fields__.values() if f.repr)
    finally:
        _in_repr.discard(key)
    return f"{self.__class__.__qualname__}({shown})"


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")
