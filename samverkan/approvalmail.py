"""Asked, reminded, never surprised: the daemon's mails about approvals.

When a message that needs approval is within ``approval.request_ahead`` (default 7 days)
of its next time, each party still missing is asked: its approvers get the message as it
will go out (every channel's text, the press release's too) and a link to its page on the
desk. Still missing 24 hours before, they are reminded; 2 hours before, the officers (the
operators among ``people:``, and ``alerts.mail.to``) are told it will be held.

Each mail goes once per message, party and text (an edited text is asked for again): the
ledger's ``approval_mails`` table keeps its key from before it is sent, so a restart, or a
crash while sending, never sends it twice. One that fails to send is tried again ten
minutes later.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Mapping
from urllib.parse import quote

from .timeutil import parse_duration, utc

if TYPE_CHECKING:
    from .ledger import Ledger
    from .loading import LoadedCampaign, LoadedMessage, Project

log = logging.getLogger("samverkan")

REMIND_BEFORE = timedelta(hours=24)
ALERT_BEFORE = timedelta(hours=2)
EVERY_SECONDS = 60.0  # how often the daemon looks again while the plan stays the same
RETRY_AFTER = timedelta(minutes=10)  # a mail that could not be sent is tried again after this


@dataclass(frozen=True)
class Mail:
    key: str
    kind: str  # request, reminder, alert
    message_id: str
    to: tuple[str, ...]
    subject: str
    text: str


def due_mails(project: Project, ledger: Ledger, now: datetime) -> list[Mail]:
    """The approval mails due at ``now`` that were never sent."""
    from .approvals import approval_of
    from .people import approvers, operators
    from .plan import message_deliveries

    config = project.config
    if config is None or config.desk is None or not config.approving_parties:
        return []
    ahead = parse_duration(config.approval_settings.request_ahead)
    # A mail that failed is tried again after RETRY_AFTER; until then it counts as sent.
    sent = {r["key"]: datetime.fromisoformat(r["at"]) for r in ledger.read("SELECT key, at, state FROM approval_mails")
            if r["state"] != "failed" or utc(now) - datetime.fromisoformat(r["at"]) < RETRY_AFTER}
    officers = sorted({m.email for m in operators(config)} | set(config.alerts.mail.to if config.alerts.mail else []))
    out: list[Mail] = []
    for campaign in project.campaigns.values():
        for message in campaign.messages:
            coming = [d.at for d in message_deliveries(campaign, message) if utc(d.at) > utc(now)]
            if not coming:
                continue
            next_at = min(coming, key=utc)
            left = utc(next_at) - utc(now)
            if left > ahead:
                continue
            a = approval_of(project, ledger, campaign, message)
            if a.error or not a.missing:
                continue
            asking: list[Mail] = []
            for party in a.missing:
                to = tuple(sorted(m.email for m in approvers(config, party)))
                if not to:
                    continue
                key = f"request {a.message_id} {party} {a.content_hash}"
                if key not in sent:
                    asking.append(Mail(key, "request", a.message_id, to, *_request(project, campaign, message, party, next_at)))
                # A request made within the last day is reminder enough.
                elif (left <= REMIND_BEFORE and sent[key] <= utc(next_at) - REMIND_BEFORE
                      and (key := f"reminder {a.message_id} {party} {a.content_hash}") not in sent):
                    asking.append(Mail(key, "reminder", a.message_id, to,
                                       *_request(project, campaign, message, party, next_at, reminder=True)))
            if left <= ALERT_BEFORE and officers and (key := f"alert {a.message_id} {a.content_hash}") not in sent:
                asking.append(Mail(key, "alert", a.message_id, tuple(officers), *_alert(project, campaign, message, a.missing, next_at)))
            out += asking
    return out


def _names(project: Project, parties: list[str]) -> str:
    assert project.config is not None
    return ", ".join(project.config.agreement.parties[p].short_name if p in project.config.agreement.parties else p
                     for p in parties)


def _page_url(project: Project, campaign: LoadedCampaign, message: LoadedMessage) -> str:
    assert project.config is not None and project.config.desk is not None
    return f"{project.config.desk.base_url.rstrip('/')}/m/{quote(campaign.key)}/{quote(message.key)}"


def _request(project: Project, campaign: LoadedCampaign, message: LoadedMessage, party: str, when: datetime, *,
             reminder: bool = False) -> tuple[str, str]:
    from .rendering import format_datetime

    at = format_datetime(project, when)
    title = message.model.title
    subject = (f"Påminnelse: {title} väntar på godkännande ({at})" if reminder
               else f"Godkänn: {title} ({at})")
    lead = ("Det här meddelandet väntar fortfarande på godkännande och publiceras om mindre än ett dygn"
            if reminder else "Ett meddelande behöver godkännas innan det publiceras")
    lines = ["Hej!", "", f"{lead}: {at}.", f"{_names(project, [party])} behöver godkänna texten.", "",
             f"Kampanj: {campaign.model.title}", f"Meddelande: {title}", "",
             "Godkänn eller begär ändringar på pressdesken:", _page_url(project, campaign, message), "",
             "Utan godkännande från alla parter hålls meddelandet inne.", "", "Så här går meddelandet ut:", ""]
    lines += _as_published(project, campaign, message)
    return subject, "\n".join(lines) + "\n"


def _alert(project: Project, campaign: LoadedCampaign, message: LoadedMessage, missing: list[str],
           when: datetime) -> tuple[str, str]:
    from .rendering import format_datetime

    at = format_datetime(project, when)
    title = message.model.title
    text = (f"{title} ({campaign.model.title}) ska publiceras {at} men väntar fortfarande på godkännande av "
            f"{_names(project, missing)}. Det hålls inne tills alla parter har godkänt.\n\n"
            f"Meddelandet på pressdesken: {_page_url(project, campaign, message)}\n")
    return f"Hålls inne om inget händer: {title} ({at})", text


def _as_published(project: Project, campaign: LoadedCampaign, message: LoadedMessage) -> list[str]:
    """Every channel's text of the message's first time, as its readers get it."""
    from .plan import occurrence_deliveries
    from .rendering import RenderError, render

    out: list[str] = []
    if not message.times:
        return out
    for d in occurrence_deliveries(campaign, message, *message.times[0]):
        try:
            r = render(project, d)
        except RenderError as exc:
            out += [f"== {d.channel} ==", f"(kan inte visas: {exc})", ""]
            continue
        out.append(f"== {d.channel} ==")
        if "subject" in r.parts:
            out.append(f"Ämne: {r.parts['subject']}")
        out.append(r.parts.get("text") or f"{r.title}\n\n{r.body_text}")
        if r.link and r.link not in (r.parts.get("text") or ""):
            out.append(f"Länk: {r.link}")
        out.append("")
    return out


def send(project: Project, ledger: Ledger, mails: list[Mail], now: datetime, env: Mapping[str, str] | None = None) -> int:
    """Send ``mails``, each at most once for good: its key is written before it is sent."""
    from .people import send_mail

    done = 0
    when = now.astimezone(timezone.utc).isoformat(timespec="seconds")
    for mail in mails:
        with ledger.transaction() as db:
            fresh = db.execute(
                "INSERT INTO approval_mails (key, kind, message_id, state, at) VALUES (?, ?, ?, 'sending', ?) "
                "ON CONFLICT (key) DO UPDATE SET state = 'sending', at = excluded.at WHERE state = 'failed'",
                (mail.key, mail.kind, mail.message_id, when)).rowcount
        if not fresh:
            continue
        try:
            note = send_mail(project, list(mail.to), mail.subject, mail.text, env)
        except Exception as exc:  # the mail server's trouble: tried again after RETRY_AFTER
            with ledger.transaction() as db:
                db.execute("UPDATE approval_mails SET state = 'failed', note = ? WHERE key = ?", (str(exc)[:500], mail.key))
            log.error("approval %s for %s not sent: %s", mail.kind, mail.message_id, exc,
                      extra={"event": "approval_mail_failed", "delivery": mail.message_id, "detail": str(exc)})
            continue
        with ledger.transaction() as db:
            db.execute("UPDATE approval_mails SET state = 'sent', note = ? WHERE key = ?", (note, mail.key))
        log.info("approval %s for %s to %s: %s", mail.kind, mail.message_id, ", ".join(mail.to), note,
                 extra={"event": f"approval_{mail.kind}", "delivery": mail.message_id, "detail": note})
        done += 1
    return done


class ApprovalMailer:
    """The daemon's approval mails, looked for when the plan changes and every minute, in a
    thread of their own (rendering and a slow mail server never delay a delivery)."""

    def __init__(self, env: Mapping[str, str] | None = None):
        self.env = env
        self._thread: threading.Thread | None = None
        self._last: tuple[float, int] | None = None  # (when, which plan)

    def start(self, now: datetime, project: Project, ledger: Ledger, *, background: bool = True) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        if self._last is not None and self._last[1] == id(project) and time.monotonic() - self._last[0] < EVERY_SECONDS:
            return
        self._last = (time.monotonic(), id(project))
        if not background:
            self.run(now, project, ledger)
            return
        self._thread = threading.Thread(target=self.run, args=(now, project, ledger), name="approval-mail", daemon=True)
        self._thread.start()

    def run(self, now: datetime, project: Project, ledger: Ledger) -> int:
        try:
            return send(project, ledger, due_mails(project, ledger, now), now, self.env)
        except Exception:  # asking must never stop publishing
            log.exception("approval mails failed", extra={"event": "approval_mail_failed", "delivery": "", "detail": ""})
            return 0

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
