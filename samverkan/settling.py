"""``samverkan resolve``: a person's word on what a crash or a silent server left open.

A delivery is settled as a whole (``--as published|failed``, the spec's form), or, for a
press release, recipient by recipient (``--recipient ADDRESS --as ...``); and a press
release can be sent on to those not sent it yet (``--send-untried``) without touching
the uncertain ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from .ledger import Conflict, Ledger
from .loading import Project
from .problems import SamverkanError
from .publishing import Outcome
from .status import press_publisher, recipient_lines, recipients_of


def settle(ledger: Ledger, delivery_id: str, as_: str, recipients: tuple[str, ...], now: datetime) -> list[str]:
    """Record the person's word; the lines to show them (what the delivery is now)."""
    row = ledger.get(delivery_id)
    if row is None:
        raise SamverkanError(f"no delivery '{delivery_id}' in the ledger")
    if recipients:
        if not press_publisher(row.publisher):
            raise SamverkanError(f"{delivery_id} is not a press release: it has no recipients; "
                                 f"settle it with samverkan resolve {delivery_id} --as published|failed")
        for address in recipients:
            try:
                ledger.settle_part(delivery_id, address.strip().lower(), as_, now)
            except Conflict as exc:
                raise SamverkanError(str(exc)) from None
        said = [f"{delivery_id}: {a.strip().lower()} {'got it' if as_ == 'published' else 'did not get it'}"
                for a in recipients]
    else:
        if not ledger.settle(delivery_id, as_, now):
            raise SamverkanError(f"{delivery_id} is {row.state}, not unknown; only unknown deliveries are settled by hand")
        said = [f"{delivery_id}: {as_}"]
    return said + where_it_stands(ledger, delivery_id)


def where_it_stands(ledger: Ledger, delivery_id: str) -> list[str]:
    """The delivery's state now and, for a press release, its recipients by group."""
    row = ledger.get(delivery_id)
    assert row is not None
    lines = [f"{delivery_id} is now {row.state}" + (f": {row.note}" if row.state != "published" and row.note else "")]
    groups = recipients_of(ledger, row)
    if groups is not None:
        lines += recipient_lines(row, groups, indent="  ")
    return lines


def send_untried(project: Project, ledger: Ledger, clock: Callable[[], datetime], delivery_id: str) -> Outcome:
    """Send a press release left ``unknown`` or ``failed`` to everyone on the press list not
    sent it yet (never tried, or deferred by the server); never to an uncertain recipient."""
    from .approvals import checker
    from .publishing import Publishing
    from .selection import select

    row = ledger.get(delivery_id)
    if row is None:
        raise SamverkanError(f"no delivery '{delivery_id}' in the ledger")
    if not press_publisher(row.publisher):
        raise SamverkanError(f"{delivery_id} is not a press release: --send-untried is for a press list; "
                             f"settle it with samverkan resolve {delivery_id} --as published|failed")
    if row.state not in ("unknown", "failed"):
        raise SamverkanError(f"{delivery_id} is {row.state}; --send-untried is for a press release left "
                             "unknown or failed")
    chosen = select(project, delivery_id, clock())
    publishing = Publishing(project, ledger, clock, approvals=checker(project, ledger))
    try:
        rendered, _, _ = publishing.prepare(chosen[0])
    except Exception:  # noqa: BLE001 (publish below records what is wrong, as it always does)
        rendered = None
    if rendered is not None and row.content_hash and rendered.content_hash() != row.content_hash:
        # The others got the text as it was: the rest would get another one.
        raise SamverkanError(
            f"the text of {delivery_id} has changed since it was sent to the others; put it back to send the "
            f"rest the same text, or send the new text to everyone: samverkan publish {delivery_id} --force"
        )
    if row.state == "unknown":
        # Its uncertain recipients stay uncertain (the mailer never sends to them again);
        # failed is the state from which a person's publish sends to the rest.
        ledger.set_state(delivery_id, "failed", clock(), note="sent on by hand to those not sent it yet",
                         expect=("unknown",), event="resolved")
    return publishing.publish(chosen[0])
