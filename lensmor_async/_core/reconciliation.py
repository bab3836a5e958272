"""When "no effect seen" may be read as "not executed" (pure).

A request abandoned after it left (cancelled, timed out, its connection lost) can still
reach the server and run: it may sit in a socket buffer or a server queue while our
check for its effect (precheck, contact state) is answered first. Seeing no effect right
after the send therefore proves nothing; only once ``grace`` seconds have passed since
the request left does it mean the request was never executed.
"""

from __future__ import annotations

NOT_EXECUTED_GRACE = 5.0
"""Seconds after a send before its absence of effect counts as "not executed"."""
TESTING_NOT_EXECUTED_GRACE = 0.5
"""The same against FakeLensmor (testing mode), which runs each request within milliseconds."""


def wait_before_not_executed(charged: bool | None, sent_age: float, grace: float) -> float:
    """Seconds to wait before a verdict may stand (0: it stands now).

    ``charged`` is the reconciliation's verdict (True/False/None for unknown) and
    ``sent_age`` the seconds since the request last left. Only a "not charged" verdict
    can be premature: a seen effect is proof at once, and "unknown" stays unknown.
    """
    if charged is not False:
        return 0.0
    return max(grace - sent_age, 0.0)
