"""``filterQuery``: upstream's filter language, as its parser reads it and its PostgreSQL queries answer.

Grammar (internal/platform/db/filter/parser.go): comparisons ``PROPERTY OP VALUE`` joined by AND/OR
(AND binds tighter), parentheses, ``--`` comments; OP is ``=``, ``!=``, ``<>``, ``<``, ``<=``, ``>``,
``>=``, ``LIKE``, ``ILIKE`` or ``IN (v, …)``; values are quoted strings ('…' or "…"), numbers, true/false;
a property is a name, a `backtick-quoted` name, or a name with a ``.string_value``/``.int_value``/
``.double_value``/``.bool_value`` suffix. Names the entity has (``name``, ``id``, ``state``, ``owner``,
``uri`` …) compare its field; any other (case-sensitive) is a custom property, whose value type is the
suffix's or, without one, the literal's. What the recording shows upstream does, lite does too:
``<>`` matches like ``=`` there; an entity without the property never matches; a suffix or LIKE that
does not fit the literal is "type mismatch" when the list runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

HINT = (
    'Hint: String values must be quoted (e.g., name="value"). Numbers and booleans don\'t need quotes '
    "(e.g., id>5, active=true)"
)
MISMATCH = "invalid filter query, type mismatch or invalid value in comparison"
SUFFIXES = {"string_value": str, "int_value": int, "double_value": float, "bool_value": bool}
_TOKEN = re.compile(
    r"""(?P<ws>\s+)|(?P<comment>--[^\n]*)|(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
    r"""|(?P<num>-?\d+(?:\.\d+)?)|(?P<tick>`[^`]*`)|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)"""
    r"""|(?P<op>!=|<>|<=|>=|=|<|>|\(|\)|,|\.)"""
)
KEYWORDS = ("AND", "OR", "LIKE", "ILIKE", "IN", "TRUE", "FALSE", "true", "false")  # case-sensitive, as upstream
OPERATORS = '("=" | "!=" | "<>" | ">=" | "<=" | ">" | "<" | "LIKE" | "ILIKE" | "IN") Value'
CHECK = "Check that operators and values are correctly formatted"
_BASE = ("id", "name", "externalId", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch")
# upstream's well-known properties of each REST entity (internal/db/filter/rest_entity_mapping.go); any
# other name is looked up as a custom property (or a stored property of that very name)
WELL_KNOWN: dict[str, tuple[str, ...]] = {
    "registered model": (*_BASE, "state", "owner"),
    "model version": (*_BASE, "registeredModelId", "state", "author"),
    "inference service": (
        *_BASE,
        "registeredModelId",
        "modelVersionId",
        "servingEnvironmentId",
        "runtime",
        "desiredState",
    ),
    "serving environment": _BASE,
    "experiment": (*_BASE, "state", "owner"),
    "experiment run": (
        *_BASE,
        "experimentId",
        "startTimeSinceEpoch",
        "endTimeSinceEpoch",
        "status",
        "state",
        "owner",
    ),
    "artifact": (  # the generic artifact lists use the model artifact's map
        *_BASE,
        "uri",
        "state",
        "modelFormatName",
        "modelFormatVersion",
        "storageKey",
        "storagePath",
        "serviceAccountName",
        "modelSourceKind",
        "modelSourceClass",
        "modelSourceGroup",
        "modelSourceId",
        "modelSourceName",
        "experimentId",
        "experimentRunId",
    ),
    "serve model": (*_BASE, "lastKnownState", "modelVersionId"),
}
INT_PROPERTIES = (
    "id",
    "createTimeSinceEpoch",
    "lastUpdateTimeSinceEpoch",
    "registeredModelId",
    "modelVersionId",
    "servingEnvironmentId",
    "experimentId",
    "experimentRunId",
    "inferenceServiceId",
)
ARTIFACT_STATE_CODES = {
    "UNKNOWN": 0,
    "PENDING": 1,
    "LIVE": 2,
    "MARKED_FOR_DELETION": 3,
    "DELETED": 4,
    "ABANDONED": 5,
    "REFERENCE": 6,
}


class FilterError(Exception):
    pass


@dataclass
class _Tok:
    kind: str
    text: str
    col: int


def _lex(text: str) -> list[_Tok]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise FilterError(
                f"invalid filter query syntax: error parsing filter query: 1:{pos + 1}: lexer: "
                f'invalid input text "{text[pos:]}"'
            )
        kind = match.lastgroup or ""
        if kind not in ("ws", "comment"):
            word = match.group()
            if kind == "ident" and word in KEYWORDS:
                kind = "kw"
            tokens.append(_Tok(kind, word, pos + 1))
        pos = match.end()
    tokens.append(_Tok("eof", "<EOF>", len(text) + 1))
    return tokens


Predicate = Callable[[dict[str, Any]], bool]


class _Parser:
    def __init__(self, text: str, words: str) -> None:
        self.tokens = _lex(text)
        self.at = 0
        self.known = WELL_KNOWN.get(words, _BASE)
        self.artifacts = words == "artifact"

    def peek(self) -> _Tok:
        return self.tokens[self.at]

    def take(self) -> _Tok:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def fail(self, expected: str | None, tail: str = CHECK) -> FilterError:
        token = self.peek()
        wanted = f" (expected {expected})" if expected else ""
        return FilterError(
            f"invalid filter query syntax: error parsing filter query: 1:{token.col}: unexpected token "
            f'"{token.text}"{wanted}. {tail}'
        )

    def is_kw(self, word: str) -> bool:
        token = self.peek()
        return token.kind == "kw" and token.text == word

    def parse(self) -> Predicate:
        result = self.or_()
        if self.peek().kind != "eof":
            raise self.fail(None)
        return result

    def or_(self) -> Predicate:
        parts = [self.and_()]
        while self.is_kw("OR"):
            self.take()
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else (lambda d: any(p(d) for p in parts))

    def and_(self) -> Predicate:
        parts = [self.term()]
        while self.is_kw("AND"):
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else (lambda d: all(p(d) for p in parts))

    def term(self) -> Predicate:
        if self.peek().text == "(":
            self.take()
            inner = self.or_()
            if self.peek().text != ")":
                raise self.fail('")"')
            self.take()
            return inner
        return self.comparison()

    def prop(self) -> tuple[str, str | None]:
        token = self.peek()
        if token.kind == "tick":
            name = self.take().text[1:-1]
        elif token.kind == "ident":
            name = self.take().text
        else:
            raise self.fail("Term")
        suffix = None
        if self.peek().text == ".":
            self.take()
            if self.peek().kind != "ident":
                raise self.fail("<ident>")
            suffix = self.take().text
        return name, suffix

    def value(self) -> Any:
        token = self.peek()
        if token.kind == "str":
            self.take()
            return re.sub(r"\\(.)", r"\1", token.text[1:-1])
        if token.kind == "num":
            self.take()
            return float(token.text) if "." in token.text else int(token.text)
        if token.kind == "kw" and token.text.upper() in ("TRUE", "FALSE"):
            self.take()
            return token.text.upper() == "TRUE"
        raise self.fail("Value", HINT)

    def comparison(self) -> Predicate:
        name, suffix = self.prop()
        token = self.peek()
        if self.is_kw("IN"):
            self.take()
            if self.peek().text != "(":
                raise self.fail('"("')
            self.take()
            values = []
            while self.peek().text != ")":
                values.append(self.value())
                if self.peek().text == ",":
                    self.take()
                elif self.peek().text != ")":
                    raise self.fail('")"')
            self.take()
            return self.compare(name, suffix, "IN", values)
        if token.kind == "op" and token.text in ("=", "!=", "<>", "<", "<=", ">", ">="):
            op = self.take().text
        elif self.is_kw("LIKE") or self.is_kw("ILIKE"):
            op = self.take().text.upper()
        else:
            raise self.fail(OPERATORS)
        return self.compare(name, suffix, op, self.value())

    def compare(self, name: str, suffix: str | None, op: str, literal: Any) -> Predicate:
        known = suffix is None and name in self.known
        return _compare(name, suffix, op, literal, known=known, artifacts=self.artifacts)


def _like(pattern: str, text: str, *, fold: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL | (re.IGNORECASE if fold else 0)) is not None


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m[1].lower(), name)


def _field(
    item: dict[str, Any], name: str, suffix: str | None, literal: Any, *, known: bool, artifacts: bool
) -> tuple[bool, Any]:
    """(present, value) of what a comparison reads of an answer body, typed as upstream's column is."""
    if known:
        if name not in item:
            return False, None
        value = item[name]
        if name in INT_PROPERTIES:
            return True, int(value)
        if name == "state" and artifacts:
            return True, ARTIFACT_STATE_CODES.get(value, -1)
        return True, value
    prop = item.get("customProperties", {}).get(name)
    if not isinstance(prop, dict):  # a stored property whose stored name is this very name (readme, step …)
        if suffix is None and _snake(name) == name and name in item and name != "customProperties":
            value = item[name]
            return True, json.dumps(value) if isinstance(value, list) else value
        return False, None
    wanted = SUFFIXES.get(suffix or "") if suffix else type(literal)
    for key, kind in SUFFIXES.items():
        if key in prop and (wanted is kind or (wanted is int and kind is float)):
            raw = prop[key]
            return True, int(raw) if kind is int else raw
    return False, None


def _compare(name: str, suffix: str | None, op: str, literal: Any, *, known: bool, artifacts: bool) -> Predicate:
    if suffix is not None and suffix not in SUFFIXES:
        suffix = None
    expected = SUFFIXES.get(suffix or "")
    values = literal if op == "IN" else [literal]
    for value in values:
        if op in ("LIKE", "ILIKE") and not isinstance(value, str):
            return _mismatch
        if (
            expected is not None
            and not isinstance(value, expected)
            and not (expected is float and isinstance(value, int))
        ):
            return _mismatch
    if known and name in INT_PROPERTIES:  # an int column compares with '17' as with 17
        values = [int(v) if isinstance(v, str) and v.lstrip("-").isdigit() else v for v in values]
        literal = values if op == "IN" else values[0]

    def test(item: dict[str, Any]) -> bool:
        present, got = _field(item, name, suffix, values[0] if values else "", known=known, artifacts=artifacts)
        if not present:
            return False
        if op == "IN":
            return got in values
        if op in ("LIKE", "ILIKE"):
            return isinstance(got, str) and _like(literal, got, fold=op == "ILIKE")
        if isinstance(got, bool) != isinstance(literal, bool) or isinstance(got, str) != isinstance(literal, str):
            return False
        if op in ("=", "<>"):  # upstream's "<>" matches as "=" does (recorded)
            return bool(got == literal)
        if op == "!=":
            return bool(got != literal)
        return bool({"<": got < literal, "<=": got <= literal, ">": got > literal, ">=": got >= literal}[op])

    return test


def _mismatch(_item: dict[str, Any]) -> bool:
    raise FilterError(MISMATCH)


def compile_filter(text: str, words: str) -> Predicate:
    """A predicate over answer bodies of ``words`` ("registered model", "artifact" …); :class:`FilterError`
    with upstream's sentence for a bad query."""
    return _Parser(text, words).parse()
