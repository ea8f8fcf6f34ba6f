"""Bounded JSON decoding of server answers (issue #20, item 8): any nesting is a value or a ValueError."""

from __future__ import annotations

import pytest

from mr_storage_initializer import json_body


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000])
def test_json_nested_100000_deep_is_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError, match="nested too deep"):
        json_body.loads(body)


def test_ordinary_json_is_decoded() -> None:
    assert json_body.loads(b'{"items": [{"id": "1"}], "nextPageToken": ""}') == {
        "items": [{"id": "1"}],
        "nextPageToken": "",
    }
