"""Publishing one delivery: render, mark in flight, send, record. The same path serves
``publish``, the daemon and ``rehearse``; the ledger alone decides whether anything is sent."""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import threading
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, Sequence

from .ledger import BLOCKED_NOTE, Conflict, Ledger, Row
from .loading import Project
from .pauses import PAUSED_NOTE, paused_note
from .plan import Delivery
from .problems import SamverkanError
from .timeutil import parse_duration, utc

log = logging.getLogger("samverkan")



@dataclass
class Outcome:
    delivery_id: str
    result: str  # published, retry, failed, held, missed, skipped, refused, dry-run
    detail: str = ""
    url: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        tail = f" {self.url}" if self.url else ""
        return f"{self.result:<9} {self.delivery_id}{tail}" + (f"  ({self.detail})" if self.detail else "")


# Notes of held deliveries that the daemon looks at again by itself: an approval may come,
# a file may be mended. Other holds (a blocked channel) wait for a person.
APPROVAL_NOTE = "awaiting approval"
CONTENT_NOTE = "the campaign does not validate"
CHANNEL_NOTE = "the channel's settings in config.yaml do not validate"
RECHECKED_NOTES = (APPROVAL_NOTE, CONTENT_NOTE, CHANNEL_NOTE, PAUSED_NOTE)
# The daemon holds a broken campaign file's deliveries, and lets them go when it validates.
BROKEN_NOTE = "the campaign file does not validate"


def event(kind: str, delivery_id: str, detail: str = "", level: int = logging.INFO) -> None:
    """One log line per event, with the delivery id (``--log-format json`` keeps the fields)."""
    log.log(level, "%s %s%s", kind, delivery_id, f": {detail}" if detail else "",
            extra={"event": kind, "delivery": delivery_id, "detail": detail})


def fault(exc: BaseException, secrets: Sequence[str] = ()) -> str:
    """An unexpected exception in one line a person can act on: its kind and its words,
    with the secrets blanked out; the traceback goes to the debug log only."""
    from .alerts import scrub

    words = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {words[0]}" if words else type(exc).__name__
    log.debug("%s", scrub(traceback.format_exc(), list(secrets)),
              extra={"event": "traceback", "delivery": "", "detail": ""})
    return scrub(text[:300], list(secrets))


def idempotent_publishers(project: Project) -> tuple[str, ...]:
    """The configured publishers for which publishing again is harmless (the RSS file)."""
    from publishers.base import get

    names = {s.publisher for s in project.channel_settings.values()}
    return tuple(sorted(n for n in names if getattr(get(n), "idempotent", False)))


def pub_name(delivery: Delivery, project: Project) -> str:
    settings = project.channel_settings.get(delivery.channel)
    return settings.publisher if settings is not None else "?"


def backoff(attempt: int, first: timedelta, cap: timedelta, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff (first, 2 x first, 4 x first ... at most ``cap``), jittered into
    its upper half so that many deliveries failing together do not retry together."""
    base = min(cap, first * (2 ** max(0, attempt - 1)))
    return base * (rng or random).uniform(0.5, 1.0)


class Publishing:
    """Publishers per channel for one project, and the publish step over the ledger."""

    def __init__(
        self,
        project: Project,
        ledger: Ledger,
        clock: Callable[[], datetime],
        *,
        env: Mapping[str, str] | None = None,
        make_publisher: Callable[[str], Any] | None = None,
        approvals: Callable[[Delivery], list[str]] | None = None,
        stop: threading.Event | None = None,
    ):
        self.project = project
        self.ledger = ledger
        self.clock = clock
        self.env = os.environ if env is None else env
        self._make = make_publisher or self._default_publisher
        self._publishers: dict[str, Any] = {}
        self._approvals = approvals
        self.stop = stop  # the daemon's: set on SIGTERM/SIGINT (publishers that wait look at it)
        self._gate: dict[str, list[Any]] = {}  # campaign -> its content errors, once per plan
        # Sent, but the ledger could not record it (a full disk): recorded once it can be.
        self.unrecorded: dict[str, Any] = {}

    @property
    def secrets(self) -> list[str]:
        from .alerts import secret_values

        return secret_values(self.project, self.env)

    def _default_publisher(self, channel: str) -> Any:
        from publishers.base import Channel, get

        settings = self.project.channel_settings.get(channel)
        if settings is None:
            raise SamverkanError(f"channel {channel} is not configured or its settings do not validate; run samverkan validate")
        cls = get(settings.publisher)
        return cls(Channel(channel, settings, self.project.root, self.env, stop=_StopOrPause(self, channel)))

    def publisher(self, channel: str) -> Any:
        if channel not in self._publishers:
            self._publishers[channel] = self._make(channel)
        return self._publishers[channel]

    def publishers(self) -> list[Any]:
        """The publishers made so far, one per channel."""
        return list(self._publishers.values())

    def prepare(self, delivery: Delivery) -> tuple[Any, Any, Any]:
        """(rendered message, publisher, payload): exactly what would go out, built now (at
        send time), so a payload stamped with its time (the mailer's Date) says when it went."""
        from dataclasses import replace

        from .rendering import render

        rendered = replace(render(self.project, delivery), sent_at=self.clock())
        pub = self.publisher(delivery.channel)
        return rendered, pub, pub.payload(rendered)

    def ensure(self, delivery: Delivery) -> Row:
        settings = self.project.channel_settings.get(delivery.channel)
        if settings is not None:
            pub = settings.publisher
        else:  # settings that do not validate: the name as written
            raw = self.project.config.channels.get(delivery.channel, {}) if self.project.config else {}
            pub = str(raw.get("publisher", "?"))
        return self.ledger.ensure(
            id=delivery.id, campaign=delivery.campaign, message=delivery.message, channel=delivery.channel,
            publisher=pub, due_at=delivery.at, now=self.clock(),
        )

    def content_errors(self, campaign: str) -> list[Any]:
        """What keeps a campaign from being published (``validate``'s errors about it)."""
        if campaign not in self._gate:
            from .contentchecks import campaign_errors

            self._gate[campaign] = campaign_errors(self.project, self.project.campaigns[campaign])
        return self._gate[campaign]

    def check_all(self) -> None:
        """Run the content checks of every campaign at once (in worker processes for a
        large plan, as ``validate`` does) instead of campaign by campaign when each first
        publishes. Problems outside the campaign files (a template, config.yaml) may
        concern any campaign: then each campaign is still checked on its own."""
        from .contentchecks import check_content

        errors = [p for p in check_content(self.project) if p.severity == "error"]
        by_file: dict[str, list[Any]] = {}
        for p in errors:
            by_file.setdefault(p.file, []).append(p)
        files = {c.file: key for key, c in self.project.campaigns.items()}
        if any(f not in files for f in by_file):
            return
        for file, key in files.items():
            self._gate[key] = sorted(set(by_file.get(file, [])))

    def _hold(self, row: Row, note: str) -> Outcome:
        if (row.state, row.note) != ("held", note) and self.ledger.set_state(
            row.id, "held", self.clock(), note=note, expect=("pending", "held", "missed", "failed")
        ):
            event("held", row.id, note, logging.WARNING)
        return Outcome(row.id, "held", note)

    def publish(self, delivery: Delivery, *, force: bool = False, dry_run: bool = False) -> Outcome:
        """Publish one delivery at most once; every outcome is recorded in the ledger."""
        from publishers.base import (
            OutcomeUnknown, PermanentError, PublishError, TransientError, UncertainError, UnsettledError,
        )

        from .rendering import RenderError

        if delivery.channel not in self.project.channel_settings:
            note = f"{CHANNEL_NOTE} (channel {delivery.channel}); run samverkan validate"
            return Outcome(delivery.id, "refused", note) if dry_run else self._hold(self.ensure(delivery), note)
        errors = self.content_errors(delivery.campaign)
        try:
            rendered, pub, payload = self.prepare(delivery)
        except RenderError as exc:
            errors = errors or [exc.problem()]
        except PublishError as exc:  # the payload cannot be built, e.g. no press list
            if dry_run:
                return Outcome(delivery.id, "refused", str(exc))
            self.ensure(delivery)
            self.ledger.failed(delivery.id, self.clock(), error=str(exc), state="failed")
            event("failed", delivery.id, str(exc), logging.ERROR)
            return Outcome(delivery.id, "failed", str(exc))
        except sqlite3.Error:
            raise  # the ledger's fault, not this delivery's: the daemon stops and retries
        except Exception as exc:  # a template, a file or a publisher's payload that breaks
            if dry_run:
                return Outcome(delivery.id, "refused", f"cannot be prepared: {fault(exc, self.secrets)}")
            return self.crashed(delivery, exc, "prepared")
        if errors:
            note = f"{CONTENT_NOTE}: {errors[0]}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
            note += "; run samverkan validate"
            if dry_run:
                return Outcome(delivery.id, "refused", note)
            return self._hold(self.ensure(delivery), note)
        content_hash = rendered.content_hash()
        if dry_run:
            return Outcome(delivery.id, "dry-run", "nothing sent", fields=payload.fields)
        row = self.ensure(delivery)
        now = self.clock()
        if row.state == "published" and not force:
            changed = " (its text has changed since)" if row.content_hash != content_hash else ""
            when = row.published_at.astimezone(self.project.tz) if row.published_at else now
            return Outcome(delivery.id, "skipped", f"already published {when:%Y-%m-%d %H:%M}{changed}; --force publishes it again", row.url)
        if row.state in ("unknown", "in_flight") and not force:
            return Outcome(delivery.id, "refused", f"it is {row.state}: it may have gone out; settle it with samverkan resolve {delivery.id} --as published|failed")
        if self._approvals is not None:
            missing = self._approvals(delivery)
            if missing:
                return self._hold(row, f"{APPROVAL_NOTE} by {', '.join(missing)}")
        if not force and (paused := paused_note(self.ledger, delivery.channel)):
            return self._hold(row, paused)
        if not force:
            blocked = self.ledger.blocked(delivery.channel, exclude=delivery.id)
            if blocked is not None:
                return self._hold(row, f"{BLOCKED_NOTE} (see {blocked}); once it is lifted: "
                                       f"samverkan publish {delivery.id} --force")
        # An uncertain earlier attempt is the publisher's to settle: its journal says an
        # attempt is in flight, and it looks for the post before sending again.
        try:
            row = self.ledger.begin(delivery.id, content_hash, now, force=force, fields=payload.fields, files=payload.files)
        except Conflict as exc:
            return Outcome(delivery.id, "refused", str(exc))
        if force:  # publish again in full: forget which parts (recipients, posts) went out
            self.ledger.clear_parts(delivery.id)
        journal = self.ledger.journal(delivery.id, delivery.channel, self.clock)
        try:
            receipt = pub.publish(payload, delivery.id, journal)
        except UnsettledError as exc:  # some of it may have gone out, and only a person can tell
            self.ledger.failed(delivery.id, self.clock(), error=str(exc), state="unknown", uncertain=True)
            event("unknown", delivery.id, str(exc), logging.ERROR)
            return Outcome(delivery.id, "unknown", str(exc))
        except PermanentError as exc:
            state = "held" if exc.hold_channel else "unknown" if isinstance(exc, OutcomeUnknown) else "failed"
            note = f"{BLOCKED_NOTE}: {exc}; once it is lifted: samverkan publish {delivery.id} --force" if exc.hold_channel else None
            self.ledger.failed(delivery.id, self.clock(), error=str(exc), state=state, note=note)
            event(state, delivery.id, note or str(exc), logging.ERROR)
            return Outcome(delivery.id, state, note or str(exc))
        except TransientError as exc:
            uncertain = isinstance(exc, UncertainError)
            if not uncertain and not force and (paused := paused_note(self.ledger, delivery.channel)):
                # Stopped by a pause on the way (a press list, Instagram preparing its
                # picture): held like what falls due meanwhile, taken up at once on resume.
                self.ledger.set_state(delivery.id, "held", self.clock(), note=paused, expect=("in_flight",))
                event("held", delivery.id, f"{exc}; {paused}", logging.WARNING)
                return Outcome(delivery.id, "held", f"{exc}; {paused}")
            policy = self.project.config.retry if self.project.config else None
            first = parse_duration(policy.first) if policy else timedelta(minutes=1)
            cap = parse_duration(policy.max_wait) if policy else timedelta(minutes=30)
            retry_at = utc(self.clock()) + (exc.retry_after or backoff(row.attempts, first, cap))
            if row.attempts >= (policy.attempts if policy else 6) or retry_at > utc(delivery.at) + self.project.catch_up:
                self.ledger.failed(delivery.id, self.clock(), error=f"gave up after {row.attempts} attempt(s): {exc}", state="failed", uncertain=uncertain)
                event("failed", delivery.id, f"gave up after {row.attempts} attempt(s): {exc}", logging.ERROR)
                return Outcome(delivery.id, "failed", f"gave up after {row.attempts} attempt(s): {exc}")
            self.ledger.failed(delivery.id, self.clock(), error=str(exc), state="pending", next_retry=retry_at, uncertain=uncertain)
            local = retry_at.astimezone(self.project.tz)
            event("retry", delivery.id, f"{exc}; next try at {local.isoformat(timespec='seconds')}", logging.WARNING)
            return Outcome(delivery.id, "retry", f"{exc}; next try {local:%H:%M:%S}")
        except sqlite3.Error:
            raise  # the journal could not be written: in flight it stays, nothing more is sent
        except Exception as exc:  # a bug in a publisher must not leave the row in flight forever
            why = (f"the publisher {pub_name(delivery, self.project)} broke while sending: {fault(exc, self.secrets)}; "
                   f"look on the channel whether it went out; if not: samverkan publish {delivery.id}")
            self.ledger.failed(delivery.id, self.clock(), error=why, state="failed", uncertain=True)
            event("failed", delivery.id, why, logging.ERROR)
            return Outcome(delivery.id, "failed", why)
        # the payload was archived when sending began
        self.unrecorded[delivery.id] = receipt
        self.record_unrecorded()
        event("published", delivery.id, receipt.url or receipt.note or "")
        return Outcome(delivery.id, "published", receipt.note or "", receipt.url)

    def record_unrecorded(self) -> None:
        """Record the receipts of what went out while the ledger could not be written;
        raises sqlite3.Error while it still cannot (they stay in flight meanwhile)."""
        for delivery_id, receipt in list(self.unrecorded.items()):
            self.ledger.published(delivery_id, self.clock(), external_id=receipt.external_id, url=receipt.url,
                                  note=receipt.note)
            del self.unrecorded[delivery_id]

    def crashed(self, delivery: Delivery, exc: BaseException, stage: str = "published") -> Outcome:
        """Record an unexpected exception as this delivery's failure (``unknown`` if it was
        in flight: it may have gone out), so that neither the daemon nor its next start
        meets it again."""
        why = (f"cannot be {stage}: {fault(exc, self.secrets)}; fix the campaign, its templates or files "
               f"(samverkan validate shows what is wrong), then: samverkan publish {delivery.id}")
        row = self.ledger.get(delivery.id) or self.ensure(delivery)
        if row.state == "in_flight":
            self.ledger.set_state(delivery.id, "unknown", self.clock(), note=why, expect=("in_flight",))
            event("unknown", delivery.id, why, logging.ERROR)
            return Outcome(delivery.id, "unknown", why)
        self.ledger.failed(delivery.id, self.clock(), error=why, state="failed")
        event("failed", delivery.id, why, logging.ERROR)
        return Outcome(delivery.id, "failed", why)


class _StopOrPause:
    """A channel's ``stop`` (publishers.base.Channel): set when the daemon stops, and when
    a person pauses the channel while one of its deliveries is under way (a long press
    list, Instagram preparing a picture), looked at in the ledger at most twice a second."""

    def __init__(self, publishing: Publishing, channel: str) -> None:
        self.publishing, self.channel = publishing, channel
        self._checked, self._paused = float("-inf"), False

    def is_set(self) -> bool:
        import time

        stop = self.publishing.stop
        if stop is not None and stop.is_set():
            return True
        now = time.monotonic()
        if self._paused or now - self._checked >= 0.5:  # (a resume is seen at once)
            self._checked = now
            try:
                self._paused = paused_note(self.publishing.ledger, self.channel) is not None
            except Exception:  # the ledger's trouble is said where it is written
                self._paused = False
        return self._paused
