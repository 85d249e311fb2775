"""The bulletin approval state machine, as data and one pure function.

    draft ──submit──► pending ──approve──► approved
      ▲                 │  └────reject───► rejected
      └─────edit────────┴──────────────────────┘   (an edit makes a new revision, back to draft)
    any state but withdrawn ──withdraw──► withdrawn (final)
"""

from __future__ import annotations

from hub.errors import Conflict
from hub.plugin_types import PRIORITIES  # noqa: F401  (one definition; re-exported for the workflow's users)

STATUSES = ("draft", "pending", "approved", "rejected", "withdrawn")

TRANSITIONS: dict[str, dict[str, str]] = {
    "submit": {"draft": "pending"},
    "approve": {"pending": "approved"},
    "reject": {"pending": "rejected"},
    "withdraw": {s: "withdrawn" for s in ("draft", "pending", "approved", "rejected")},
    "edit": {s: "draft" for s in ("draft", "pending", "approved", "rejected")},
}


def next_status(status: str, action: str) -> str:
    """The status after ``action``; Conflict if the machine does not allow it from ``status``."""
    try:
        return TRANSITIONS[action][status]
    except KeyError:
        raise Conflict(f"cannot {action} a bulletin that is {status}") from None
