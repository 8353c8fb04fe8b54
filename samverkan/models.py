"""The shapes of config.yaml and of a campaign file.

Times in files are local wall times in ``config.timezone``; the models keep them naive and
:mod:`samverkan.loading` makes them aware, since only it knows the zone and the position to
blame when a time does not exist.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ModelWrapValidatorHandler, ValidationError,
    WithJsonSchema, model_validator,
)
from pydantic import Strict as StrictType
from pydantic_core import InitErrorDetails

from publishers.base import breaks_line, mail_address, uncarriable, web_link

from .timeutil import parse_duration

KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_DATE_ONLY = re.compile(r"^\s*\d{4}-\d{1,2}-\d{1,2}\s*$")
_ONE_DIGIT_HOUR = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d:\d{2}(:\d{2})?)$")


class FieldError(ValueError):
    """A model-level check that blames one field, so the error points at that field's
    line (``end`` of a period) rather than at the whole mapping."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _key(value: str) -> str:
    if not KEY_RE.match(value):
        raise ValueError(
            f"'{value}' is not a valid key; use lowercase letters a-z, digits, '-' and '_'"
        )
    return value


def _duration(value: str) -> str:
    parse_duration(value)
    return value


def _days(value: str) -> str:
    if not re.match(r"^\s*\d+\s*[dw]\s*$", str(value)) or parse_duration(value).days < 1:
        raise ValueError(f"'{value}' is not a repeat interval; write whole days or weeks, e.g. 7d or 2w")
    return value


def _single_line(value: str) -> str:
    # Any line break, not only \n: a title is a mail's Subject, and a header is one line.
    # (A break that no channel can carry at all, "\v", is said as such: see _carriable.)
    if breaks_line(value.strip()) and not uncarriable(value):
        raise ValueError("must be one line")
    return value.strip()


def _mail_address(value: str) -> str:
    if not uncarriable(value):  # (said as such: see _carriable)
        mail_address(value)
    return value.strip()


def _link(value: str) -> str:
    if not web_link(value) and not uncarriable(value):
        raise ValueError(
            f"'{value}' is not a web address; write it as https://..., the only kind of link that is "
            "published (javascript:, data: or file: links are never sent to readers)"
        )
    return value


def _uncarriable_in(value: Any, path: tuple[Any, ...], out: list[tuple[tuple[Any, ...], str]]) -> None:
    """Add to ``out`` where in ``value`` (a file's data: texts, lists and mappings) a text
    no channel can carry is, and why."""
    if isinstance(value, str):
        problem = uncarriable(value)
        if problem:
            out.append((path, problem))
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and (problem := uncarriable(key)):
                out.append(((*path, key), problem))
            _uncarriable_in(item, (*path, key), out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _uncarriable_in(item, (*path, i), out)


def _carriable(model: type[BaseModel], data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
    """A whole file's model, validated by ``handler``, with an error for every text in it
    that no channel can carry (the feed's XML 1.0, mail, the Graph API) beside the model's
    own errors: validate says so at its place instead of the publisher when it is due.
    One walk over the file's data, before the model, costs less than a check per field."""
    found: list[tuple[tuple[Any, ...], str]] = []
    _uncarriable_in(data, (), found)
    if not found:
        return handler(data)
    errors: list[InitErrorDetails] = []
    try:
        handler(data)
    except ValidationError as exc:
        errors += [InitErrorDetails(type=e["type"], loc=e["loc"], input=e["input"], ctx=e.get("ctx") or {})
                   for e in exc.errors()]
    errors += [InitErrorDetails(type="value_error", loc=path, input=None, ctx={"error": ValueError(problem)})
               for path, problem in found]
    raise ValidationError.from_exception_data(model.__name__, errors)


def _local_time(value: Any) -> Any:
    # Pydantic would take a number as seconds since 1970 and a bare date as midnight; an
    # officer who writes either has made a mistake, so say so instead of guessing.
    if isinstance(value, bool):
        raise ValueError("expected a date and time such as 2018-08-13 07:30, got true/false")
    if isinstance(value, (int, float)):
        raise ValueError(f"expected a date and time such as 2018-08-13 07:30, got the number {value}")
    if isinstance(value, str) and _DATE_ONLY.match(value):
        raise ValueError(f"'{value.strip()}' has no time of day; write it as YYYY-MM-DD HH:MM")
    if isinstance(value, str) and (short := _ONE_DIGIT_HOUR.match(value.strip())):
        return f"{short[1]} 0{short[2]}"  # 8:00 is how people write 08:00
    return value


def _naive(value: datetime) -> datetime:
    if value.tzinfo is not None:
        raise ValueError(
            "give the local time without a UTC offset; times are read in config.yaml's timezone"
        )
    return value


Key = Annotated[str, AfterValidator(_key)]
# In the JSON Schema a pattern, not ``format: date-time``: editors check that as RFC 3339,
# which wants a "T" and a UTC offset, and would mark every local time in the files wrong.
LOCAL_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}(:\d{2})?$"
LocalTime = Annotated[
    datetime, BeforeValidator(_local_time), AfterValidator(_naive),
    WithJsonSchema({"type": "string", "pattern": LOCAL_TIME_PATTERN}),
]
# YAML's yes/no are booleans, and pydantic would count True as 1: demand a real number.
Count = Annotated[int, StrictType()]
Duration = Annotated[str, AfterValidator(_duration)]
Line = Annotated[str, AfterValidator(_single_line)]
MailAddress = Annotated[str, AfterValidator(_mail_address)]
"""One well-formed e-mail address, alone (no name beside it)."""
Link = Annotated[str, AfterValidator(_link)]
"""An http(s) address: what a message or a party may link to."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- config.yaml -------------------------------------------------------------------------


class Contact(Strict):
    name: Line
    title: Line | None = None
    phone: Line | None = None
    email: MailAddress


class Party(Strict):
    name: Line
    short_name: Line
    logo: str | None = None
    website: Link | None = None
    press_contact: Contact | None = None


class Period(Strict):
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise FieldError("end", f"the period ends on {self.end}, before it starts on {self.start}; fix one of the dates")
        return self

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


class Agreement(Strict):
    title: Line
    period: Period
    parties: dict[Key, Party] = Field(min_length=1)
    priority_areas: dict[Key, str] = Field(min_length=1)
    bases: dict[Key, str] = Field(default_factory=dict)
    min_campaigns_per_year: Count = Field(4, ge=0)
    briefing_interval_days: Count = Field(14, ge=1)


class Defaults(Strict):
    channels: list[str] = Field(default_factory=list)


class Checks(Strict):
    """Thresholds of the content checks run by ``validate``."""

    lix_max: float = 45
    facebook_max_chars: Count = 63206
    flagged_words: list[str] = Field(
        default_factory=lambda: ["misstänkt", "misstänkta", "anhållen", "anhållna", "polisanmäld", "häktad"]
    )


class Retry(Strict):
    """How the daemon retries a transient failure: ``first`` wait, doubling, at most
    ``max_wait``, ``attempts`` tries in all (never past ``catch_up``)."""

    first: Duration = "1m"
    max_wait: Duration = "30m"
    attempts: int = Field(6, ge=1, le=50)


class AlertMail(Strict):
    """Alerts by e-mail, through a mailer channel's SMTP settings."""

    channel: str
    """A channel with ``publisher: mailer`` (its server, login and ``from``)."""
    to: list[MailAddress] = Field(min_length=1)
    """Who is told: e-mail addresses of people, not the press list."""


def _clock_time(value: str) -> str:
    if not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", str(value).strip()):
        raise ValueError(f"'{value}' is not a time of day; write it as HH:MM, e.g. 07:00")
    return str(value).strip()


class Alerts(Strict):
    """Who is told when something needs a person (failed, unknown, missed, held near its
    time, a channel check that fails), and how."""

    mail: AlertMail | None = None
    command: str | None = None
    """A shell command run per alert: the text on stdin, SAMVERKAN_ALERT_KIND,
    SAMVERKAN_ALERT_DELIVERY and SAMVERKAN_ALERT_SUBJECT in its environment."""
    digest: Literal[False, "daily"] = False
    """``daily``: one mail a day with every new alert, instead of one mail per alert."""
    digest_at: Annotated[str, AfterValidator(_clock_time)] = "07:00"
    """Local time of the daily digest."""
    check_ahead: Duration = "24h"
    """How long before a delivery its channel is checked again (and once a day anyway)."""
    held_ahead: Duration = "24h"
    """A delivery still held this long before its time is alerted."""


class Person(Strict):
    """One of a party's people on the press desk."""

    name: Line
    email: Line
    role: Literal["approver", "operator", "viewer"] = "viewer"
    """``approver`` signs off for the party, ``operator`` pauses and resumes, ``viewer`` looks."""


class Desk(Strict):
    """The press desk (``samverkan desk``)."""

    base_url: Line
    """Where people reach the desk (behind the TLS proxy), for the links in mails."""
    channel: str
    """A channel with ``publisher: mailer`` that sends sign-in links and approval requests."""


class ApprovalSettings(Strict):
    """``approval:`` as a mapping; a list is short for ``parties:``."""

    parties: list[str] | None = None
    """Which parties must approve (default: all; ``[]`` turns approval off)."""
    request_ahead: Duration = "7d"
    """How long before a message's first time its approvers are asked by mail."""
    desk_only: list[str] = Field(default_factory=list)
    """Parties whose approvals must come through the desk (not ``samverkan approve``)."""


class Config(Strict):
    agreement: Agreement
    timezone: str = "Europe/Stockholm"
    locale: str = "sv"
    state: str = "state/samverkan.db"
    channels: dict[Key, dict[str, Any]] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    approval: list[str] | ApprovalSettings | None = None
    people: dict[Key, list[Person]] = Field(default_factory=dict)
    desk: Desk | None = None
    catch_up: Duration = "6h"
    retry: Retry = Field(default_factory=Retry)
    checks: Checks = Field(default_factory=Checks)
    alerts: Alerts = Field(default_factory=Alerts)

    @model_validator(mode="wrap")
    @classmethod
    def _carriable(cls, data: Any, handler: ModelWrapValidatorHandler[Config]) -> Config:
        return _carriable(cls, data, handler)

    @property
    def approving_parties(self) -> list[str]:
        parties = self.approval.parties if isinstance(self.approval, ApprovalSettings) else self.approval
        return list(self.agreement.parties) if parties is None else list(parties)

    @property
    def approval_settings(self) -> ApprovalSettings:
        return self.approval if isinstance(self.approval, ApprovalSettings) else ApprovalSettings(parties=self.approval)


# --- campaigns/*.yaml --------------------------------------------------------------------


class Event(Strict):
    key: Key | None = None
    """Names the event for good: subscribed calendars follow a corrected time or title
    under it. Default: the event's place in the list (1, 2, ...)."""
    title: Line
    start: LocalTime
    end: LocalTime | None = None
    location: Line | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Event:
        if self.end is not None and self.end < self.start:
            raise FieldError(
                "end", f"the event ends ({self.end:%Y-%m-%d %H:%M}) before it starts ({self.start:%Y-%m-%d %H:%M}); fix one of the times"
            )
        return self


class Image(Strict):
    path: str
    alt: str = ""


class Repeat(Strict):
    every: Annotated[str, AfterValidator(_days)]
    until: date | None = None
    count: Count | None = Field(None, ge=1, le=1000)

    @model_validator(mode="after")
    def _bounded(self) -> Repeat:
        if self.until is not None and self.count is not None:
            raise FieldError("count", "give either 'until' or 'count', not both; remove one")
        if self.until is None and self.count is None:
            raise ValueError("say when the repeats stop: add until: YYYY-MM-DD or count: N")
        return self


class Override(Strict):
    """Per-channel (or per-publisher) text and template: a short Facebook text, say."""

    title: Line | None = None
    body: str | None = None
    template: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)


class Message(Strict):
    key: Key
    at: LocalTime
    channels: list[str] | None = None
    title: Line
    body: str
    link: Link | None = None
    image: Image | None = None
    embargo: LocalTime | None = None
    repeat: Repeat | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    overrides: dict[str, Override] = Field(default_factory=dict)


class Campaign(Strict):
    kind: Literal["campaign", "routine"] = "campaign"
    title: Line
    summary: str
    priority_areas: list[str] = Field(min_length=1)
    bases: list[str] = Field(default_factory=list)
    period: Period
    parties: list[str] | None = None
    partners: list[Key] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    messages: list[Message] = Field(min_length=1)

    @model_validator(mode="wrap")
    @classmethod
    def _carriable(cls, data: Any, handler: ModelWrapValidatorHandler[Campaign]) -> Campaign:
        return _carriable(cls, data, handler)
