"""The model-registry:// URI grammar: the four upstream forms, namespace, and strict rejection of the rest."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mr_storage_initializer.errors import UsageError
from mr_storage_initializer.uri import ModelRef, is_host, parse_uri


def test_model_only() -> None:
    assert parse_uri("model-registry://iris").readings == (ModelRef("iris"),)


def test_three_segments_are_host_model_version() -> None:
    parsed = parse_uri("model-registry://registry.example:8443/iris/v1")
    assert parsed.readings == (ModelRef("iris", "v1", host="registry.example:8443"),)


def test_two_segments_keep_both_readings_host_first() -> None:
    parsed = parse_uri("model-registry://mr.example:8080/iris")
    assert parsed.ambiguous
    assert parsed.readings == (ModelRef("iris", host="mr.example:8080"), ModelRef("mr.example:8080", "iris"))


def test_two_segments_whose_first_cannot_be_a_host_are_model_version() -> None:
    parsed = parse_uri("model-registry://my_model/v1")
    assert parsed.readings == (ModelRef("my_model", "v1"),)


def test_names_are_percent_decoded() -> None:
    parsed = parse_uri("model-registry://h:1/my%20model/v%2F2")
    assert parsed.readings == (ModelRef("my model", "v/2", host="h:1"),)


def test_namespace_targets_model_version_reading_only() -> None:
    parsed = parse_uri("model-registry://iris/v1?namespace=team-a")
    assert parsed.readings == (ModelRef("iris", "v1", namespace="team-a"),)


def test_scheme_is_case_insensitive() -> None:
    assert parse_uri("Model-Registry://iris").readings == (ModelRef("iris"),)


def test_ipv6_host() -> None:
    parsed = parse_uri("model-registry://[::1]:8080/iris/v1")
    assert parsed.readings[0].host == "[::1]:8080"


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("s3://bucket/model", "does not start with model-registry://"),
        ("model-registry://", "names no model"),
        ("model-registry://a/b/c/d", "4 path segments"),
        ("model-registry://iris/", "empty path segment"),
        ("model-registry:///iris", "empty path segment"),
        ("model-registry://iris//v1", "empty path segment"),
        ("model-registry://iris?version=1", "unknown query parameter 'version'"),
        ("model-registry://iris?namespace=Team_A", "not a valid Kubernetes namespace name"),
        ("model-registry://iris?namespace=a&namespace=b", "more than once"),
        ("model-registry://iris?namespace", "unknown query parameter"),
        ("model-registry://h:1/iris/v1?namespace=a", "both a registry host and a namespace"),
        ("model-registry://not_a_host/iris/v1", "not a valid registry HOST[:PORT]"),
        ("model-registry://h:99999/iris/v1", "not a valid registry HOST[:PORT]"),
        ("model-registry://iris#frag", "fragment"),
        ("model-registry://ir is", "white space"),
        ("model-registry://iris%zz", "not a percent-escape"),
        ("model-registry://iris%ff", "not valid UTF-8"),
        ("model-registry://%20", "is empty"),
        ("model-registry://iris%0Av1", "control characters"),
    ],
)
def test_malformed_uris_are_usage_errors_that_say_why(uri: str, why: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_uri(uri)
    assert why in caught.value.message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        ("localhost", True),
        ("a.b-c.d:80", True),
        ("10.0.0.1:8080", True),
        ("[::1]", True),
        ("a_b", False),
        ("h:0", False),
    ],
)
def test_is_host(segment: str, expected: bool) -> None:
    assert is_host(segment) is expected


@given(st.text(max_size=80))
def test_any_text_either_parses_or_is_a_usage_error(tail: str) -> None:
    try:
        parsed = parse_uri("model-registry://" + tail)
    except UsageError as exc:
        assert exc.message.startswith("malformed storage URI")
    else:
        assert 1 <= len(parsed.readings) <= 2
        assert all(r.model for r in parsed.readings)


@pytest.mark.parametrize(
    "uri",
    [
        "model-registry://admin:s3cret-pw@registry.example:8443/iris/v1",
        "model-registry://admin:s3cret-pw@registry.example/iris",
        "model-registry://admin:s3cret-pw@registry.example",
        "model-registry://admin@registry.example/iris/v1",
        "model-registry://admin:p@ss#w?rd@registry.example/iris/v1",
    ],
)
def test_userinfo_is_a_usage_error_that_does_not_quote_it(uri: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_uri(uri)
    message = caught.value.message
    assert "user information" in message and "MODEL_REGISTRY_TOKEN" in message
    assert "s3cret" not in message and "admin" not in message and "ss#w" not in message
    assert "model-registry://***@registry.example" in message


def test_an_at_sign_in_a_model_name_is_kept() -> None:
    assert parse_uri("model-registry://bert@v2/1").readings[-1] == ModelRef("bert@v2", "1")
