"""``filterQuery`` as upstream reads it (model_registry_lite.filters), on answer bodies, without a server.

The recorded replay (test_upstream_recording.py) checks the same against upstream's answers; these name
the rules one by one.
"""

from __future__ import annotations

from typing import Any

import pytest

from model_registry_lite.filters import FilterError, compile_filter


def _model(name: str, ident: int, **props: Any) -> dict[str, Any]:
    custom = {}
    for key, value in props.items():
        kind = {str: "string", bool: "bool", int: "int", float: "double"}[type(value)]
        custom[key] = {
            "metadataType": f"Metadata{kind.title()}Value",
            f"{kind}_value": str(value) if kind == "int" else value,
        }
    return {
        "id": str(ident),
        "name": name,
        "state": "LIVE",
        "owner": "alice",
        "description": "d",
        "customProperties": custom,
    }


MODELS = [
    _model("iris", 1, color="red", petals=3, ratio=0.0, fresh=True),
    _model("rose", 2, color="red", petals=4, ratio=0.25, fresh=False),
    _model("tulip", 3, color="blue", petals=5, ratio=0.5, fresh=True),
]


def _names(text: str, words: str = "registered model") -> list[str]:
    predicate = compile_filter(text, words)
    return [m["name"] for m in MODELS if predicate(m)]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("name = 'iris'", ["iris"]),
        ('name = "iris"', ["iris"]),
        ("`name` = 'iris' -- a comment", ["iris"]),
        ("name != 'iris'", ["rose", "tulip"]),
        ("name <> 'iris'", ["iris"]),  # upstream's parser: <> matches as = does (recorded)
        ("name LIKE 'r%'", ["rose"]),
        ("name ILIKE 'R_SE'", ["rose"]),
        ("name IN ('iris', 'tulip')", ["iris", "tulip"]),
        ("name IN ()", []),
        ("(name = 'iris' OR name = 'rose') AND color = 'red'", ["iris", "rose"]),
        ("id >= 2", ["rose", "tulip"]),
        ("id = '2'", ["rose"]),  # an integer column compares with a quoted number
        ("petals > 3", ["rose", "tulip"]),
        ("petals.int_value > 3", ["rose", "tulip"]),
        ("petals >= 3.5", []),  # a decimal literal reads double values only
        ("ratio = 0", ["iris"]),  # an integer literal reads int and double values
        ("ratio.double_value < 0.5", ["iris", "rose"]),
        ("fresh = true", ["iris", "tulip"]),
        ("fresh = 'true'", []),
        ("NAME = 'iris'", []),  # names are case-sensitive: NAME is a custom property
        ("description = 'd'", ["iris", "rose", "tulip"]),  # a stored property of that very name
    ],
)
def test_upstreams_filter_semantics(text: str, names: list[str]) -> None:
    assert _names(text) == names


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = ", '1:8: unexpected token "<EOF>" (expected Value). Hint: String values must be quoted'),
        ("name == 'iris'", '1:7: unexpected token "=" (expected Value)'),
        ("bogus ~ 1", '1:7: lexer: invalid input text "~ 1"'),
        ("(name = 'iris'", '1:15: unexpected token "<EOF>" (expected ")"). Check that operators'),
        ("name NOT LIKE 'x'", '1:6: unexpected token "NOT" (expected ("=" | "!=" | "<>" | ">=" | "<="'),
        ("name = 'iris' and owner = 'a'", '1:15: unexpected token "and". Check that operators'),
        ("name = 'iris' AND", '1:18: unexpected token "<EOF>" (expected Term)'),
    ],
)
def test_syntax_errors_are_upstreams_sentences(text: str, message: str) -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter(text, "registered model")
    assert str(caught.value).startswith("invalid filter query syntax: error parsing filter query: " + message)


@pytest.mark.parametrize("text", ["name LIKE 5", "petals.int_value = 'x'"])
def test_a_literal_that_does_not_fit_is_a_type_mismatch_when_the_list_runs(text: str) -> None:
    predicate = compile_filter(text, "registered model")
    with pytest.raises(FilterError, match="type mismatch or invalid value in comparison"):
        predicate(MODELS[0])


def test_an_artifacts_state_compares_as_its_enum_number() -> None:
    live = {"id": "1", "name": "a", "state": "LIVE", "customProperties": {}}
    assert compile_filter("state = 2", "artifact")(live)
    assert not compile_filter("state = 'LIVE'", "artifact")(live)
    assert not compile_filter("artifactType = 'model-artifact'", "artifact")({**live, "artifactType": "model-artifact"})
