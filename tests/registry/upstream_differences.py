"""Recorded exchanges where lite answers otherwise than the real server, on purpose: index -> (request, why).

The index is the exchange's place in ``data/upstream-recording.json``; the request (``METHOD path?query``)
is checked against the recording, so a re-recording that moves exchanges shows here at once.
"""

from __future__ import annotations

DIFFERENCES: dict[int, tuple[str, str]] = {}
