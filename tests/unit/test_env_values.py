"""The value parsers of the settings: one reading each, blank is the default, a bad value: NAME='value' must be …"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mr_storage_initializer import env_values as values
from mr_storage_initializer.errors import UsageError

PARSERS: list[tuple[str, Callable[[dict[str, str]], object], str]] = [
    ("maybe", lambda env: values.flag(env, "X"), "true or false"),
    ("warp", lambda env: values.choice(env, "X", ("auto", "fast"), "auto"), "one of auto, fast"),
    ("3.5", lambda env: values.whole(env, "X", 1, 1, 10), "a whole number from 1 to 10"),
    ("11", lambda env: values.whole(env, "X", 1, 1, 10), "a whole number from 1 to 10"),
    ("nan", lambda env: values.number(env, "X", 1.0, 1, 9), "a number from 1 to 9"),
    ("0", lambda env: values.seconds(env, "X", 1.0), "a number of seconds, more than 0 and at most 86400"),
    ("soon", lambda env: values.seconds(env, "X", 1.0), "a number of seconds, more than 0 and at most 86400"),
    ("1KiB", lambda env: values.size(env, "X", 1 << 20), "a size from 64KiB to 4GiB, such as 32MiB"),
]


@pytest.mark.parametrize(("raw", "parse", "expected"), PARSERS)
def test_a_bad_value_names_the_variable_the_value_and_what_it_must_be(
    raw: str, parse: Callable[[dict[str, str]], object], expected: str
) -> None:
    with pytest.raises(UsageError) as caught:
        parse({"X": raw})
    assert caught.value.message == f"X={raw!r} must be {expected}"


@pytest.mark.parametrize(("raw", "parse", "expected"), PARSERS)
def test_unset_or_blank_is_the_default(raw: str, parse: Callable[[dict[str, str]], object], expected: str) -> None:
    assert parse({}) == parse({"X": "  "})


def test_readings() -> None:
    assert [values.flag({"X": v}, "X") for v in ("ON", " yes ", "1", "off", "")] == [True, True, True, False, False]
    assert values.choice({"X": " FAST "}, "X", ("auto", "fast"), "auto") == "fast"
    assert values.size({"X": "32MiB"}, "X", 0) == 32 << 20
    assert values.size({"X": "1g"}, "X", 0) == 1 << 30
    assert values.seconds({"X": "0.5"}, "X", 1.0) == 0.5
    assert values.patterns({"X": '["*.bin", " ", "a"]'}, "X") == ("*.bin", "a")
    assert values.patterns({"X": "*.bin, ,a"}, "X") == ("*.bin", "a")
    assert values.words({"X": " s3://a/ ,, gs://b/ ,"}, "X") == ("s3://a/", "gs://b/")
    assert values.is_one_of({"X": "on"}, "X", ("1", "true", "yes")) is False  # KServe's reading: never an error
    assert values.is_one_of({"X": " TRUE "}, "X", ("true",)) is True
    assert values.is_one_of({"X": " true"}, "X", ("true",), strip=False) is False


def test_pem_blocks_inline_or_from_files(tmp_path: Path) -> None:
    block = "-----BEGIN PUBLIC KEY-----\nMA==\n-----END PUBLIC KEY-----"
    (tmp_path / "a.pem").write_text(block + "\n" + block)
    assert values.pem_blocks({"X": block}, "X") == ((block + "\n").encode(),)
    assert len(values.pem_blocks({"X": f"{tmp_path / 'a.pem'}, {tmp_path / 'a.pem'}"}, "X")) == 4
    with pytest.raises(UsageError, match=r"^X='/nonexistent' must be PEM text .*is not a readable file"):
        values.pem_blocks({"X": "/nonexistent"}, "X")
    (tmp_path / "empty.pem").write_text("nothing")
    with pytest.raises(UsageError, match="holds no PEM block"):
        values.pem_blocks({"X": str(tmp_path / "empty.pem")}, "X")


def test_a_json_object_that_may_hold_credentials_is_not_shown() -> None:
    assert values.json_object({"X": '{"a": 1}'}, "X", "a JSON object") == {"a": 1}
    with pytest.raises(UsageError) as caught:
        values.json_object({"X": '"secret-ish"'}, "X", "a JSON object")
    assert caught.value.message == "X must be a JSON object"
