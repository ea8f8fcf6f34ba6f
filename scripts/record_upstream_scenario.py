"""The requests `scripts/record-upstream` sends to the real server (and the replay test to lite).

Every operation of both specs (v1 and v1alpha3), the loose list parameters, the filter language, and the
error cases of issue #25, from an empty registry. ``{name}`` in a path, query or body is the id of an
earlier answer saved as ``name``; ``{token}`` the previous answer's ``nextPageToken``.
"""

from __future__ import annotations

from record_upstream_more import experiments, filters, more_filters, serving
from record_upstream_steps import ALPHA, V1, Step, core, edges, lists, transport


def steps() -> list[Step]:
    """Every request, in order; the recording's exchange indices follow this order."""
    return [
        *core(V1, "v1"),
        *core(ALPHA, "a3"),
        *lists(V1),
        *lists(ALPHA),
        *filters(),
        *serving(V1, "v1"),
        *serving(ALPHA, "a3"),
        *experiments(),
        *transport(),
        *edges(),
        *more_filters(),
    ]
