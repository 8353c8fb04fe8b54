"""Reading config.yaml and campaigns/*.yaml into models, collecting every problem with its
place. One broken file never hides another's errors."""

from __future__ import annotations

import copy
import os
import stat
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Collection
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from .i18n import N_, _
from . import modelerrors, yamlpos
from .models import KEY_RE, Agreement, Campaign, Config, Event, Message, Period
from .problems import InvalidInput, Problem, Problems
from .timeutil import WallTime, localize, parse_duration

CONFIG_FILE = "config.yaml"
CAMPAIGN_DIR = "campaigns"
MAX_YAML_BYTES = 256 * 1024
"""The largest config.yaml or campaign file read (the sample plan's largest is 5 KB): what
is past it is not read, so that a huge file costs no more than a large one."""


@dataclass
class LoadedMessage:
    model: Message
    index: int
    channels: list[str]
    times: list[tuple[datetime, str | None]]  # aware time, and "@YYYY-MM-DD" for repeats
    embargo: datetime | None
    # Channels that are public (not a press list): an embargoed message reaches them only
    # when the embargo ends, while the press release goes out at ``at``.
    public: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        return self.model.key

    def due(self, when: datetime, channel: str) -> datetime:
        """When this occurrence is due on ``channel``."""
        if self.embargo is not None and channel in self.public and self.embargo > when:
            return self.embargo
        return when


@dataclass
class LoadedEvent:
    index: int
    title: str
    start: datetime
    end: datetime | None
    location: str | None
    description: str | None
    key: str = ""  # its own key, else its place in the list: "1", "2", ...


@dataclass
class LoadedCampaign:
    key: str
    file: str
    model: Campaign
    # Where each value is in the file, read from the text when first asked for (None until).
    located: yamlpos.Located | None = field(compare=False)
    messages: list[LoadedMessage]
    events: list[LoadedEvent]
    valid: bool = True
    path: Path | None = field(default=None, compare=False)
    stamp: tuple[int, int] | None = field(default=None, compare=False)  # the file's, when read

    def message(self, key: str) -> LoadedMessage | None:
        return next((m for m in self.messages if m.key == key), None)

    def where(self, *path: Any, key: bool = False) -> tuple[int, int]:
        if self.located is None:
            self.located = _positions(self.path, self.stamp)
        return self.located.where(tuple(path), key=key)



@dataclass
class Project:
    """The whole plan as loaded: the config, the campaigns that validate, every problem."""

    root: Path
    config: Config | None
    config_located: yamlpos.Located | None = field(compare=False)  # (as LoadedCampaign.located)
    campaigns: dict[str, LoadedCampaign]
    broken: dict[str, str]  # campaign key -> file, for files that did not validate
    problems: Problems
    channel_settings: dict[str, Any] = field(default_factory=dict)
    # Of ``broken``, the files with no error of their own: left out only because config.yaml
    # does not validate (so some of their references could not be checked).
    unchecked: dict[str, str] = field(default_factory=dict)
    # Of ``broken``, what of each file validates on its own (its messages that do): never
    # published, but its content is checked too, so that one run reports every problem.
    salvaged: dict[str, LoadedCampaign] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone if self.config else "Europe/Stockholm")

    @property
    def catch_up(self) -> timedelta:
        return parse_duration(self.config.catch_up if self.config else "6h")

    def add(self, share: PlanShare) -> None:
        """Join ``share`` to the plan; shares added in the order of their files keep the
        plan in file order."""
        self.campaigns.update(share.campaigns)
        self.broken.update(share.broken)
        self.unchecked.update(share.unchecked)
        self.salvaged.update(share.salvaged)
        self.problems.extend(share.problems)

    def config_where(self, *path: Any, key: bool = False) -> tuple[int, int]:
        if self.config_located is None:
            return (1, 1)
        return self.config_located.where(tuple(path), key=key)


@dataclass
class PlanShare:
    """What some of a plan's campaign files gave: the campaigns that validate, the files
    that do not, and their problems."""

    campaigns: dict[str, LoadedCampaign] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)
    unchecked: dict[str, str] = field(default_factory=dict)
    salvaged: dict[str, LoadedCampaign] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def _positions(path: Path | None, stamp: tuple[int, int] | None) -> yamlpos.Located:
    """The positions in a campaign file, read again; none (the top of the file) if it has
    changed since it was loaded or no longer reads."""
    if path is not None and stamp is not None and _stamp(path) == stamp:
        try:
            return yamlpos.load(_read_bytes(path).decode("utf-8-sig"))
        except (OSError, UnicodeDecodeError, yamlpos.YamlSyntaxError):
            pass
    return yamlpos.Located(data=None)


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, at most one past :data:`MAX_YAML_BYTES`; OSError for what is not
    a regular file (a pipe would block the reader, a device never end)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "it is not a regular file")
        return f.read(MAX_YAML_BYTES + 1)


def _read(path: Path, rel: str, problems: Problems) -> yamlpos.Located | None:
    """The file's YAML with positions; None (and a problem) when nothing can be checked.

    Duplicate keys are reported but do not stop the checks: the rest of the file may have
    more errors, and the officer should see them all in one run."""
    try:
        raw = _read_bytes(path)
    except OSError as exc:
        problems.error(rel, 1, 1, f"cannot read the file: {exc.strerror}")
        return None
    if len(raw) > MAX_YAML_BYTES:
        line = raw.count(b"\n", 0, MAX_YAML_BYTES) + 1
        problems.error(
            rel, line, 1,
            f"the file is larger than {MAX_YAML_BYTES // 1024} KB (this line is past it); a plan's "
            "files are far smaller: split the campaign into several files, or remove what is not the plan's",
        )
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # Point at the offending character, usually a Latin-1 'å', 'ä' or 'ö'.
        data, at = exc.object, exc.start  # without a BOM, if there was one
        line = data.count(b"\n", 0, at) + 1
        col = len(data[data.rfind(b"\n", 0, at) + 1 : at].decode("utf-8", "replace")) + 1
        problems.error(
            rel, line, col,
            f"the file is not UTF-8 text (byte 0x{data[at]:02x} cannot be read); save it as UTF-8",
        )
        return None
    try:
        located = yamlpos.load(text, positions=False)  # (read when a problem needs them)
    except yamlpos.YamlSyntaxError as exc:
        problems.error(rel, exc.line, exc.col, exc.message)
        return None
    for path_, (line, col), (first_line, _col) in located.duplicates:
        problems.error(rel, line, col, _("duplicate key '{key}' (first given on line {line}); keep one").format(
            key=path_[-1], line=first_line))
    if located.empty:
        what = (
            "config.yaml is empty; it needs at least agreement: (see the sample config.yaml)"
            if rel == CONFIG_FILE
            else "the campaign file is empty; a campaign needs title, summary, priority_areas, period and messages"
        )
        problems.error(rel, 1, 1, what)
        return None
    if not isinstance(located.data, dict):
        problems.error(rel, *located.where(()), "expected a mapping of keys and values (key: value lines) at the top of the file")
        return None
    return located


def load_config(root: Path, problems: Problems) -> tuple[Config | None, yamlpos.Located | None, dict[str, Any]]:
    """config.yaml as a model, its positions, and each channel's validated settings."""
    config, located, settings, _ = _load_config(root, problems)
    return config, located, settings


def _load_config(
    root: Path, problems: Problems
) -> tuple[Config | None, yamlpos.Located | None, dict[str, Any], Config | None]:
    """As :func:`load_config`, plus the config to check campaigns against: when config.yaml
    fails its schema only in places campaigns do not refer to, a repaired copy, so one typo
    in config.yaml does not hide every campaign's errors."""
    path = root / CONFIG_FILE
    if not path.exists():
        problems.error(CONFIG_FILE, 1, 1, _("no {file} in {root}; run samverkan in the plan's folder or pass --root").format(
            file=CONFIG_FILE, root=root))
        return None, None, {}, None
    located = _read(path, CONFIG_FILE, problems)
    if located is None:
        return None, None, {}, None
    try:
        config = Config.model_validate(located.data)
    except ValidationError as exc:
        modelerrors.report(exc, Config, located, CONFIG_FILE, problems)
        # The checks past the schema run all the same, on what of the file can be saved:
        # one typo must not hide the channels' errors, a literal token least of all.
        repaired, data, renamed = _repaired_config(located.data, exc)
        checked, _settings = _check_config(root, repaired or _channels_only(data), _aliased(located, renamed), problems)
        return None, located, {}, checked if repaired is not None else None
    config, settings = _check_config(root, config, located, problems)
    return config, located, settings, config


# Settings campaign checks never read: dropping a broken one (its default applies) cannot
# make a campaign look wrong.
_RESETTABLE = {
    ("locale",), ("state",), ("catch_up",), ("checks",), ("approval",), ("people",), ("desk",),
    ("agreement", "min_campaigns_per_year"), ("agreement", "briefing_interval_days"),
}
_RESETTABLE_PARTY = {"logo", "website", "press_contact"}


def _parent(data: Any, loc: tuple[Any, ...]) -> dict[Any, Any] | None:
    """The mapping that holds the key at ``loc``, if there is one."""
    for part in loc[:-1]:
        data = data.get(part) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else None


def _repaired_config(
    data: dict[str, Any], exc: ValidationError
) -> tuple[Config | None, dict[str, Any], dict[yamlpos.Path, yamlpos.Path]]:
    """config.yaml with its unknown keys dropped (or read as the key they were likely
    meant to be) and broken settings that campaigns do not use reset to their defaults;
    None when the errors are where campaigns look (areas, bases, parties, channels).
    Also the data so mended, and the keys read as another (path in the file -> path read)."""
    data = copy.deepcopy(data)
    renamed: dict[yamlpos.Path, yamlpos.Path] = {}
    repairable = True
    for err in exc.errors():
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            drop = loc
            # 'base:' for 'bases:' is read as 'bases:'; dropped, every basis a campaign
            # cites would look unknown.
            _, meant = modelerrors.meant(Config, loc)
            parent = _parent(data, loc)
            if meant is not None and parent is not None and meant not in parent:
                parent[meant] = parent.pop(loc[-1])
                renamed[loc] = loc[:-1] + (meant,)
                continue
        elif loc[:1] in _RESETTABLE:
            drop = loc[:1]
        elif loc[:2] in _RESETTABLE:
            drop = loc[:2]
        elif loc[:2] == ("agreement", "parties") and len(loc) > 3 and loc[3] in _RESETTABLE_PARTY:
            drop = loc[:4]
        else:
            repairable = False
            continue
        parent = _parent(data, drop)
        if parent is not None:
            parent.pop(drop[-1], None)
    if not repairable:
        return None, data, renamed
    try:
        return Config.model_validate(data), data, renamed
    except ValidationError:
        return None, data, renamed


def _aliased(located: yamlpos.Located, renamed: dict[yamlpos.Path, yamlpos.Path]) -> yamlpos.Located:
    """``located`` whose positions under a key read as another (``chanels:`` as
    ``channels:``) are found under that other key too, for the checks of the mended data."""
    if not renamed:
        return located
    located.read_positions()
    values, keys = dict(located.values), dict(located.keys)
    for table in (values, keys):
        for path, pos in list(table.items()):
            for old, new in renamed.items():
                if path[: len(old)] == old:
                    table.setdefault(new + path[len(old):], pos)
    return yamlpos.Located(located.data, values, keys, located.duplicates)


def _channels_only(data: dict[str, Any]) -> Config:
    """A stand-in for a config.yaml that fails its schema beyond repair: its channels (those
    whose name and shape are right) and its time zone, so their checks still run."""
    raw = data.get("channels")
    channels = {
        name: settings for name, settings in raw.items()
        if isinstance(name, str) and KEY_RE.match(name) and isinstance(settings, dict)
    } if isinstance(raw, dict) else {}
    zone = data.get("timezone")
    return Config.model_construct(
        agreement=Agreement.model_construct(parties={}), channels=channels, approval=[],
        timezone=zone if isinstance(zone, str) else "Europe/Stockholm",
    )


def _check_config(
    root: Path, config: Config, located: yamlpos.Located, problems: Problems
) -> tuple[Config, dict[str, Any]]:
    from publishers import base

    def err(path: tuple[Any, ...], text: str, key: bool = False) -> None:
        problems.error(CONFIG_FILE, *located.where(path, key=key), text)

    try:
        ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        hint = modelerrors.suggest(config.timezone, _zone_names())
        err(("timezone",), "timezone: " + _("unknown time zone '{zone}'").format(zone=config.timezone)
            + (hint or "; " + _("write e.g. Europe/Stockholm")))
        # Check the campaigns in the default zone rather than not at all.
        config = config.model_copy(update={"timezone": "Europe/Stockholm"})
    parties = config.agreement.parties
    for key, party in parties.items():
        if party.logo:
            _check_plan_file(root, party.logo, True, "logo: ", CONFIG_FILE,
                             lambda: located.where(("agreement", "parties", key, "logo")), problems)
    from .people import check_config as check_people

    check_people(config, err)
    for i, name in enumerate(config.defaults.channels):
        if name not in config.channels:
            err(("defaults", "channels", i), f"defaults: unknown channel '{name}'{modelerrors.suggest(name, config.channels)} (known: {', '.join(config.channels)})")
    settings: dict[str, Any] = {}
    for name, raw in config.channels.items():
        label = f"channel {name}: "
        kind = raw.get("publisher")
        if not isinstance(kind, str):
            err(("channels", name), label + "missing key 'publisher' (rss, facebook, mailer or an installed plugin)")
            continue
        try:
            cls = base.get(kind)
        except KeyError as exc:
            err(("channels", name, "publisher"), label + str(exc.args[0]))
            continue
        try:
            settings[name] = cls.Settings.model_validate(raw)
        except ValidationError as exc:
            modelerrors.report(exc, cls.Settings, located, CONFIG_FILE, problems, prefix=("channels", name), label=label)
            continue
        for setting, path in getattr(cls, "files", lambda s: [])(settings[name]):
            _check_plan_file(root, path, False, f"{label}{setting}: ", CONFIG_FILE,
                             lambda: located.where(("channels", name, setting)), problems)
        for setting, path in getattr(cls, "outputs", lambda s: [])(settings[name]):
            if not _inside(root, path):
                err(("channels", name, setting), f"{label}{setting}: " + _OUTSIDE.format(path=path))
    if not _inside(root, config.state):
        err(("state",), "state: " + _OUTSIDE.format(path=config.state))
    mail = config.alerts.mail
    if mail is not None:
        chosen = settings.get(mail.channel)
        if mail.channel not in config.channels:
            err(("alerts", "mail", "channel"), f"alerts: unknown channel '{mail.channel}'"
                f"{modelerrors.suggest(mail.channel, config.channels)}; name a channel with publisher: mailer")
        elif chosen is not None and getattr(base.get(chosen.publisher), "notify", None) is None:
            err(("alerts", "mail", "channel"), f"alerts: channel '{mail.channel}' uses publisher {chosen.publisher}, "
                "which cannot send e-mail; name a channel with publisher: mailer")
    return config, settings


_OUTSIDE = ("'{path}' lies outside the plan's folder; keep what samverkan writes inside it, e.g. public/ "
            "(point the web server's folder at it with a link)")


def _inside(root: Path, path: str) -> bool:
    """Whether ``path`` (relative to ``root``, or absolute), symlinks followed, lies in ``root``."""
    base = root.resolve()
    return (base / path).resolve().is_relative_to(base)


def _check_plan_file(
    root: Path, name: str, image: bool, label: str, rel: str, pos: Callable[[], tuple[int, int]], problems: Problems
) -> None:
    """A problem at ``pos()`` if the file ``name`` may not be read as part of the plan
    (outside its folder, not a regular file, too large, not an image: see plan_file)."""
    from publishers.base import PlanFileError, plan_file

    try:
        plan_file(root, name, image=image, read=False)
    except PlanFileError as exc:
        problems.error(rel, *pos(), f"{label}{exc}")


def _zone_names() -> set[str]:
    from zoneinfo import available_timezones

    return available_timezones()


def _when(
    naive: datetime, tz: ZoneInfo, rel: str, pos: Callable[[], tuple[int, int]], what: str, problems: Problems
) -> datetime:
    """``naive`` in ``tz``; a problem at ``pos()`` (asked for only then) if it does not
    exist there or comes twice."""
    aware, status = localize(naive, tz)
    if status is not WallTime.OK:
        _wall_time_problem(status, naive, tz, rel, pos(), what, problems)
    return aware


def _wall_time_problem(
    status: WallTime, naive: datetime, tz: ZoneInfo, rel: str, pos: tuple[int, int], what: str, problems: Problems
) -> None:
    if status is WallTime.NONEXISTENT:
        first = _first_after_gap(naive, tz)
        problems.error(rel, *pos, f"{what}: " + _(
            "{time} does not exist in {zone} (the clocks go forward that night); pick another time, e.g. "
            "{first}, the first after the change").format(time=f"{naive:%Y-%m-%d %H:%M}", zone=tz.key, first=f"{first:%H:%M}"))
    elif status is WallTime.AMBIGUOUS:
        problems.warning(rel, *pos, f"{what}: " + _(
            "{time} happens twice in {zone} (the clocks go back that night); the earlier one is used").format(
            time=f"{naive:%Y-%m-%d %H:%M}", zone=tz.key))


def _first_after_gap(naive: datetime, tz: ZoneInfo) -> datetime:
    """The first wall time after the skipped hour ``naive`` lies in (03:00 for 02:30 in
    Sweden): looked for minute by minute, since only an error asks (gaps last 2 h at most)."""
    when = naive.replace(second=0, microsecond=0)
    for _minute in range(3 * 60):
        when += timedelta(minutes=1)
        if localize(when, tz)[1] is not WallTime.NONEXISTENT:
            return when
    return when


def _refs(
    values: list[Any], known: dict[str, Any], what: str, path: tuple[Any, ...],
    located: yamlpos.Located, rel: str, problems: Problems,
) -> None:
    for i, value in enumerate(values):
        # Non-text items are schema errors, already reported.
        if isinstance(value, str) and value not in known:
            listed = _("known: {keys}").format(keys=", ".join(known)) if known else _("none are defined in config.yaml")
            problems.error(
                rel, *located.where(path + (i,)),
                _("unknown {what} '{value}'").format(what=_(what), value=value)
                + f"{modelerrors.suggest(value, known)} ({listed})",
            )


def occurrences(message: Message) -> list[tuple[datetime, str | None]]:
    """The message's wall times: one, or one per repeat, in local wall time (so a weekly
    12:00 stays at 12:00 across a DST change)."""
    if message.repeat is None:
        return [(message.at, None)]
    step = timedelta(days=parse_duration(message.repeat.every).days)
    count, until = message.repeat.count, message.repeat.until
    out: list[tuple[datetime, str | None]] = []
    t = message.at
    while True:
        if count is not None and len(out) >= count:
            break
        if until is not None and t.date() > until:
            break
        out.append((t, f"@{t.date().isoformat()}"))
        t = t + step
    return out


@dataclass
class _Parts:
    """What the checks after the schema look at: a whole campaign, or the parts of a
    broken one that validate on their own (so its references and dates are checked too)."""

    priority_areas: list[Any]
    bases: list[Any]
    parties: list[Any]
    period: Period | None
    events: list[tuple[int, Event]]
    messages: list[tuple[int, Message]]

    @classmethod
    def of(cls, campaign: Campaign) -> _Parts:
        return cls(
            campaign.priority_areas, campaign.bases, campaign.parties or [], campaign.period,
            list(enumerate(campaign.events)), list(enumerate(campaign.messages)),
        )

    @classmethod
    def salvage(cls, data: dict[str, Any]) -> _Parts:
        def items(key: str) -> list[Any]:
            value = data.get(key)
            return value if isinstance(value, list) else []

        def each(key: str, model: type[Any]) -> list[tuple[int, Any]]:
            out = []
            for i, raw in enumerate(items(key)):
                try:
                    out.append((i, model.model_validate(raw)))
                except ValidationError:
                    pass  # reported by the whole campaign's validation
            return out

        try:
            period: Period | None = Period.model_validate(data.get("period"))
        except ValidationError:
            period = None
        return cls(items("priority_areas"), items("bases"), items("parties"), period,
                   each("events", Event), each("messages", Message))


def load_campaign(
    path: Path, root: Path, config: Config | None, problems: Problems,
    kinds: ChannelKinds | None = None, stamp: tuple[int, int] | None = None,
) -> LoadedCampaign | None:
    """One campaign file as a model; None if it fails its schema (its problems are added).
    ``kinds``: ``config``'s, if the caller has them; ``stamp``: the file's, if the caller
    has taken it (before reading: a change after it is seen as one)."""
    rel = path.relative_to(root).as_posix()
    before = len(problems.errors)
    if stamp is None:
        stamp = _stamp(path)
    if config is not None and kinds is None:
        kinds = _channel_kinds(config)
    if not KEY_RE.match(path.stem):
        problems.error(
            rel, 1, 1,
            f"'{path.stem}' is not a valid campaign key (the file name without .yaml); "
            "rename the file using lowercase letters a-z, digits, '-' and '_'",
        )
    located = _read(path, rel, problems)
    if located is None:
        return None
    try:
        campaign = Campaign.model_validate(located.data)
    except ValidationError as exc:
        modelerrors.report(exc, Campaign, located, rel, problems)
        if config is None:
            return None
        assert kinds is not None
        parts = _Parts.salvage(located.data)
        messages, events = _check_campaign(parts, rel, root, config, kinds, located, problems)
        messages = _untouched(messages, located, [p.line for p in problems.errors[before:] if p.file == rel])
        return LoadedCampaign(path.stem, rel, _salvaged_model(located.data, parts, path.stem, config), located,
                              messages, events, valid=False, path=path, stamp=stamp)
    if config is None:  # references cannot be checked without a valid config
        return LoadedCampaign(path.stem, rel, campaign, located, [], [], valid=False, path=path, stamp=stamp)
    assert kinds is not None
    messages, events = _check_campaign(_Parts.of(campaign), rel, root, config, kinds, located, problems)
    valid = len(problems.errors) == before
    return LoadedCampaign(path.stem, rel, campaign, located, messages, events, valid=valid, path=path, stamp=stamp)


def _untouched(messages: list[LoadedMessage], located: yamlpos.Located, error_lines: list[int]) -> list[LoadedMessage]:
    """The messages of a broken file that have no error of their own (none on their lines):
    those its content checks look at, so that no problem is told twice."""
    raw = located.data.get("messages") if isinstance(located.data, dict) else None
    count = len(raw) if isinstance(raw, list) else 0
    starts = [located.where(("messages", i))[0] for i in range(count)] + [10**9]
    return [m for m in messages
            if not any(starts[m.index] <= line < starts[m.index + 1] for line in error_lines)]


def _salvaged_model(data: Any, parts: _Parts, key: str, config: Config) -> Campaign:
    """A campaign model of what validates in a broken file, for its content checks alone:
    its own title, summary and lists where they are of the right kind, else stand-ins."""
    data = data if isinstance(data, dict) else {}

    def text(name: str, default: str) -> str:
        value = data.get(name)
        return value if isinstance(value, str) else default

    def names(values: list[Any]) -> list[str]:
        return [v for v in values if isinstance(v, str)]

    known = config.agreement.parties
    period = parts.period or config.agreement.period
    return Campaign.model_construct(
        kind="routine" if data.get("kind") == "routine" else "campaign", title=text("title", key),
        summary=text("summary", ""), priority_areas=names(parts.priority_areas), bases=names(parts.bases),
        period=period, parties=[p for p in names(parts.parties) if p in known] or None, partners=[],
        events=[e for _, e in parts.events], messages=[m for _, m in parts.messages],
    )


# The config's publishers, the names an override may target (channels and publishers),
# and its press channels: the same for every campaign of a load.
ChannelKinds = tuple[set[str], set[str], set[str]]


def _channel_kinds(config: Config) -> ChannelKinds:
    """``config``'s :data:`ChannelKinds`, worked out once for all campaigns of a load."""
    from publishers import base

    publishers = {p for s in config.channels.values() if isinstance(p := s.get("publisher"), str)}
    press = {c for c, s in config.channels.items()
             if isinstance(k := s.get("publisher"), str) and k in base.registry() and getattr(base.get(k), "press", False)}
    return publishers, set(config.channels) | publishers, press


def _check_campaign(
    parts: _Parts, rel: str, root: Path, config: Config, kinds: ChannelKinds, located: yamlpos.Located,
    problems: Problems,
) -> tuple[list[LoadedMessage], list[LoadedEvent]]:
    """References, dates and local times of one campaign; the loaded messages and events."""
    tz = ZoneInfo(config.timezone)
    ag = config.agreement

    def at(*p: Any, key: bool = False) -> tuple[int, int]:
        return located.where(tuple(p), key=key)

    _refs(parts.priority_areas, ag.priority_areas, N_("priority area"), ("priority_areas",), located, rel, problems)
    _refs(parts.bases, ag.bases, N_("basis"), ("bases",), located, rel, problems)
    _refs(parts.parties, ag.parties, N_("party"), ("parties",), located, rel, problems)
    period = parts.period
    if period is not None and not (ag.period.contains(period.start) and ag.period.contains(period.end)):
        problems.error(rel, *at("period"), "period: " + _("{start} – {end} is outside the agreement's period {first} – {last}").format(
            start=period.start, end=period.end, first=ag.period.start, last=ag.period.end))

    events = []
    event_keys: dict[str, tuple[int, str]] = {}  # key -> (index, where it is written)
    for i, ev in parts.events:
        start = _when(ev.start, tz, rel, lambda: at("events", i, "start"), "start", problems)
        end = _when(ev.end, tz, rel, lambda: at("events", i, "end"), "end", problems) if ev.end else None
        if period is not None and not period.contains(ev.start.date()):
            problems.warning(rel, *at("events", i, "start"), "start: " + _(
                "the event on {day} is outside the campaign's period {start} – {end}").format(
                day=f"{ev.start:%Y-%m-%d}", start=period.start, end=period.end))
        key = ev.key or str(i + 1)
        if key in event_keys:
            first = at("events", *event_keys[key])[0]
            problems.error(rel, *at("events", i, "key" if ev.key else "title"),
                           f"key: event key '{key}' is used twice in this file (first on line {first}); "
                           "give each event its own key")
        event_keys.setdefault(key, (i, "key" if ev.key else "title"))
        events.append(LoadedEvent(i, ev.title, start, end, ev.location, ev.description, key))

    messages: list[LoadedMessage] = []
    seen: dict[str, int] = {}
    publishers, known_targets, press = kinds
    for i, msg in parts.messages:
        if msg.key in seen:
            problems.error(rel, *at("messages", i, "key"), "key: " + _(
                "message key '{key}' is used twice in this file (first on line {line})").format(
                key=msg.key, line=at("messages", seen[msg.key], "key")[0]))
        seen.setdefault(msg.key, i)
        channels = list(msg.channels) if msg.channels is not None else list(config.defaults.channels)
        if msg.channels is not None:
            _refs(msg.channels, config.channels, "channel", ("messages", i, "channels"), located, rel, problems)
        if not channels:
            problems.error(rel, *at("messages", i), "the message names no channels; add channels: or set defaults.channels in config.yaml")
        for target in msg.overrides:
            if target not in known_targets:
                problems.error(
                    rel, *at("messages", i, "overrides", target, key=True),
                    f"overrides: '{target}' is neither a channel nor a publisher in config.yaml"
                    f"{modelerrors.suggest(target, known_targets)} "
                    f"(channels: {', '.join(config.channels)}; publishers: {', '.join(sorted(publishers))})",
                )
        if msg.image is not None:
            _check_plan_file(root, msg.image.path, True, "path: ", rel, lambda: at("messages", i, "image", "path"), problems)
        walls = occurrences(msg)
        if not walls and msg.repeat is not None and msg.repeat.until is not None:
            problems.error(
                rel, *at("messages", i, "repeat", "until"),
                f"until: {msg.repeat.until} is before the first time (at: {msg.at:%Y-%m-%d %H:%M}); nothing would be sent",
            )
        if period is not None:
            _check_in_period(msg, walls, period, rel, at, i, problems)
        times = []
        for n, (wall, suffix) in enumerate(walls):
            aware, status = localize(wall, tz)
            if status is not WallTime.OK:  # where and what only then: a plan has thousands of times
                where = at("messages", i, "at") if n == 0 else at("messages", i, "repeat")
                what = "at" if n == 0 else f"repeat on {wall:%Y-%m-%d}"
                _wall_time_problem(status, wall, tz, rel, where, what, problems)
            times.append((aware, suffix))
        embargo = None
        if msg.embargo is not None:
            embargo = _when(msg.embargo, tz, rel, lambda: at("messages", i, "embargo"), "embargo", problems)
            if msg.embargo < msg.at:
                problems.warning(rel, *at("messages", i, "embargo"), "embargo: the embargo ends before the message is sent, so it has no effect")
            if msg.repeat is not None:
                problems.error(rel, *at("messages", i, "embargo"), "embargo: a repeated message cannot have an embargo; give the embargoed press release a message of its own")
        public = frozenset(c for c in channels if c not in press)
        messages.append(LoadedMessage(msg, i, channels, times, embargo, public))
    return messages, events


def _check_in_period(
    msg: Message, walls: list[tuple[datetime, str | None]], period: Period, rel: str,
    at: Callable[..., tuple[int, int]], i: int, problems: Problems,
) -> None:
    """The message, and each of its repeats, inside the campaign's period (which is itself
    checked against the agreement's). Repeats running past the end are one error, at the
    ``until`` or ``count`` to change, not one per repeat."""
    span = f"{period.start} – {period.end}"
    if not period.contains(msg.at.date()):
        problems.error(rel, *at("messages", i, "at"), "at: " + _("{time} is outside the campaign's period {span}").format(
            time=f"{msg.at:%Y-%m-%d %H:%M}", span=span))
        return
    if msg.repeat is None:
        return
    outside = [wall for wall, _ in walls if not period.contains(wall.date())]
    if not outside:
        return
    inside = len(walls) - len(outside)
    first = f"{len(outside)} of {len(walls)} repeats fall after the campaign's period {span} (the first on {outside[0]:%Y-%m-%d})"
    if msg.repeat.count is not None:
        problems.error(rel, *at("messages", i, "repeat", "count"), f"count: {first}; lower count to {inside}")
    else:
        problems.error(rel, *at("messages", i, "repeat", "until"), f"until: {first}; set until to {period.end} or earlier")


def _folder_files(root: Path) -> list[str]:
    """The names of the campaign folder's files (none without the folder)."""
    try:
        # scandir knows which entries are files without a stat call each
        with os.scandir(root / CAMPAIGN_DIR) as entries:
            return [e.name for e in entries if e.is_file()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def campaign_files(root: Path, names: list[str] | None = None) -> list[Path]:
    """The campaign files, sorted by name (what plan order means). ``names``: the campaign
    folder's files, if the caller has listed them."""
    names = _folder_files(root) if names is None else names
    return [root / CAMPAIGN_DIR / name for name in sorted(n for n in names if n.endswith(".yaml"))]


def misnamed_campaign_files(root: Path, names: list[str] | None = None) -> Problems:
    """Warnings about ``campaigns/X.yml`` (and ``.YAML``): read by no one, so an officer
    would otherwise wonder why the campaign never shows. ``names``: the campaign folder's
    files, if the caller has listed them."""
    problems = Problems()
    folder = root / CAMPAIGN_DIR
    names = _folder_files(root) if names is None else names
    misnamed = (n for n in names if not n.endswith(".yaml") and os.path.splitext(n)[1].lower() in (".yml", ".yaml"))
    for name in sorted(misnamed):
        path = folder / name
        rel = path.relative_to(root).as_posix()
        meant = path.with_suffix(".yaml")
        if meant.exists():
            fix = f"{meant.name} is read instead; merge the two and remove {path.name}"
        else:
            fix = f"rename it to {meant.name}"
        problems.warning(rel, 1, 1, f"ignored: campaign files end in .yaml; {fix}")
    return problems


@dataclass
class LoadCache:
    """What :func:`load_project` read last time, so that the daemon re-reads only the
    campaign files that changed (all of them when config.yaml changed)."""

    config_stamp: tuple[int, int] | None = None
    files: dict[Path, tuple[tuple[int, int], LoadedCampaign | None, list[Any]]] = field(default_factory=dict)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def load_project(root: Path, cache: LoadCache | None = None, *, campaigns: bool = True) -> Project:
    """Load config and every campaign; never raises for bad input, collects problems.
    With ``cache``, campaign files unchanged since the last call are not read again;
    without ``campaigns``, config.yaml alone is read (the campaign folder is not looked at)."""
    problems = Problems()
    stamp = _stamp(root / CONFIG_FILE)  # before reading: a change after it is seen as one
    config, located, settings, check_with = _load_config(root, problems)
    if cache is not None and cache.config_stamp != stamp:
        cache.files.clear()  # every campaign's references depend on the config
        cache.config_stamp = stamp
    project = Project(root, config, located, {}, {}, problems, settings)
    names = _folder_files(root) if campaigns else []  # one listing serves both
    paths = campaign_files(root, names)
    project.add(_load_campaigns(root, paths, config, check_with, cache))
    if cache is not None:
        for gone in set(cache.files) - set(paths):
            del cache.files[gone]
    problems.extend(misnamed_campaign_files(root, names))
    return project


def load_configured(root: Path, cache: LoadCache | None = None) -> Project:
    """:func:`load_project` for the commands that work on a plan: InvalidInput with every
    problem found when config.yaml does not validate."""
    project = load_project(root, cache)
    if project.config is None:
        raise InvalidInput(project.problems.sorted())
    return project


def _load_campaigns(
    root: Path, paths: Collection[Path], config: Config | None, check_with: Config | None, cache: LoadCache | None
) -> PlanShare:
    share = PlanShare()
    kinds = _channel_kinds(check_with) if check_with is not None else None
    for path in paths:
        rel = path.relative_to(root).as_posix()
        stamp = _stamp(path)  # before reading: a change after it is seen as one
        hit = cache.files.get(path) if cache is not None else None
        if hit is not None and hit[0] == stamp:
            loaded, found = hit[1], hit[2]
        else:
            found = Problems()
            loaded = load_campaign(path, root, check_with, found, kinds, stamp)
            if cache is not None and stamp is not None:
                cache.files[path] = (stamp, loaded, list(found))
        share.problems.extend(found)
        # Checked against a repaired config, a campaign is still not part of a plan whose
        # config.yaml does not validate.
        if loaded is not None and loaded.valid and config is not None:
            share.campaigns[loaded.key] = loaded
        else:
            share.broken[path.stem] = rel
            if loaded is not None and config is not None and loaded.messages:
                share.salvaged[loaded.key] = loaded
            if config is None and not any(p.severity == "error" and p.file == rel for p in found):
                share.unchecked[path.stem] = rel
    return share
