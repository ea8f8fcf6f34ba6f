"""Decode a JSON body a server sent, bounded: whatever it holds, the result is a value or a ``ValueError``.

``json.loads`` recurses once per nesting level; a body of 100,000 ``[`` (100 kB, far under any size limit)
raises ``RecursionError``, which no caller expects from a parse. :func:`loads` turns it into
:class:`TooDeep`, a ``ValueError``, so every "this is not usable JSON" path also covers it.
"""

from __future__ import annotations

import json
from typing import Any


class TooDeep(ValueError):
    """The body nests arrays or objects deeper than the interpreter's recursion limit allows to decode."""


def loads(body: bytes | str) -> Any:
    try:
        return json.loads(body)
    except RecursionError:
        raise TooDeep("JSON nested too deep to decode") from None
