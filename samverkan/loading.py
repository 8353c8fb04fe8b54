"""Reading config.yaml and campaigns/*.yaml into models, collecting every problem with its
place. One broken file never hides another's errors."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from . import modelerrors, yamlpos
from .models import Campaign, Config, Message
from .problems import Problems
from .timeutil import WallTime, localize, parse_duration

CONFIG_FILE = "config.yaml"
CAMPAIGN_DIR = "campaigns"


@dataclass
class LoadedMessage:
    model: Message
    index: int
    channels: list[str]
    times: list[tuple[datetime, str | None]]  # aware time, and "@YYYY-MM-DD" for repeats
    embargo: datetime | None

    @property
    def key(self) -> str:
        return self.model.key


@dataclass
class LoadedEvent:
    index: int
    title: str
    start: datetime
    end: datetime | None
    location: str | None
    description: str | None


@dataclass
class LoadedCampaign:
    key: str
    file: str
    model: Campaign
    located: yamlpos.Located
    messages: list[LoadedMessage]
    events: list[LoadedEvent]
    valid: bool = True

    def message(self, key: str) -> LoadedMessage | None:
        return next((m for m in self.messages if m.key == key), None)

    def where(self, *path: Any, key: bool = False) -> tuple[int, int]:
        return self.located.where(tuple(path), key=key)


@dataclass
class Project:
    """The whole plan as loaded: the config, the campaigns that validate, every problem."""

    root: Path
    config: Config | None
    config_located: yamlpos.Located | None
    campaigns: dict[str, LoadedCampaign]
    broken: dict[str, str]  # campaign key -> file, for files that did not validate
    problems: Problems
    channel_settings: dict[str, Any] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone if self.config else "Europe/Stockholm")

    @property
    def catch_up(self) -> timedelta:
        return parse_duration(self.config.catch_up if self.config else "6h")

    def config_where(self, *path: Any, key: bool = False) -> tuple[int, int]:
        if self.config_located is None:
            return (1, 1)
        return self.config_located.where(tuple(path), key=key)


def find_root(root: str | os.PathLike[str] | None) -> Path:
    """``--root``, else ``$SAMVERKAN_ROOT``, else the current folder."""
    return Path(root or os.environ.get("SAMVERKAN_ROOT") or ".").resolve()


def _read(path: Path, rel: str, problems: Problems) -> yamlpos.Located | None:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.error(rel, 1, 1, f"the file is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8")
        return None
    except OSError as exc:
        problems.error(rel, 1, 1, f"cannot read the file: {exc.strerror}")
        return None
    try:
        located = yamlpos.load(text)
    except yamlpos.YamlSyntaxError as exc:
        problems.error(rel, exc.line, exc.col, exc.message)
        return None
    for path_, (line, col), (first_line, _) in located.duplicates:
        problems.error(rel, line, col, f"duplicate key '{path_[-1]}' (first given on line {first_line}); keep one")
    if located.duplicates:
        return None
    if not isinstance(located.data, dict):
        problems.error(rel, 1, 1, "expected a mapping of keys and values at the top of the file")
        return None
    return located


def load_config(root: Path, problems: Problems) -> tuple[Config | None, yamlpos.Located | None, dict[str, Any]]:
    """config.yaml as a model, its positions, and each channel's validated settings."""
    path = root / CONFIG_FILE
    if not path.exists():
        problems.error(CONFIG_FILE, 1, 1, f"no {CONFIG_FILE} in {root}; run samverkan in the plan's folder or pass --root")
        return None, None, {}
    located = _read(path, CONFIG_FILE, problems)
    if located is None:
        return None, None, {}
    try:
        config = Config.model_validate(located.data)
    except ValidationError as exc:
        modelerrors.report(exc, Config, located, CONFIG_FILE, problems)
        return None, located, {}
    settings = _check_config(root, config, located, problems)
    return config, located, settings


def _check_config(root: Path, config: Config, located: yamlpos.Located, problems: Problems) -> dict[str, Any]:
    from publishers import base

    def err(path: tuple[Any, ...], text: str, key: bool = False) -> None:
        problems.error(CONFIG_FILE, *located.where(path, key=key), text)

    try:
        ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        err(("timezone",), f"timezone: unknown time zone '{config.timezone}'; write e.g. Europe/Stockholm")
    parties = config.agreement.parties
    for key, party in parties.items():
        if party.logo and not (root / party.logo).is_file():
            err(("agreement", "parties", key, "logo"), f"logo: no file '{party.logo}' (paths are relative to the folder of config.yaml)")
    for i, name in enumerate(config.approval or []):
        if name not in parties:
            err(("approval", i), f"approval: unknown party '{name}'{modelerrors.suggest(name, parties)} (known: {', '.join(parties)})")
    for i, name in enumerate(config.defaults.channels):
        if name not in config.channels:
            err(("defaults", "channels", i), f"defaults: unknown channel '{name}'{modelerrors.suggest(name, config.channels)}")
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
    return settings


def _when(
    naive: datetime, tz: ZoneInfo, rel: str, pos: tuple[int, int], what: str, problems: Problems
) -> datetime:
    aware, status = localize(naive, tz)
    if status is WallTime.NONEXISTENT:
        problems.error(rel, *pos, f"{what}: {naive:%Y-%m-%d %H:%M} does not exist in {tz.key} (the clocks go forward that night); pick another time")
    elif status is WallTime.AMBIGUOUS:
        problems.warning(rel, *pos, f"{what}: {naive:%Y-%m-%d %H:%M} happens twice in {tz.key} (the clocks go back that night); the earlier one is used")
    return aware


def _refs(
    values: list[str], known: dict[str, Any], what: str, path: tuple[Any, ...],
    located: yamlpos.Located, rel: str, problems: Problems,
) -> None:
    for i, value in enumerate(values):
        if value not in known:
            problems.error(
                rel, *located.where(path + (i,)),
                f"unknown {what} '{value}'{modelerrors.suggest(value, known)} (known: {', '.join(known)})",
            )


def occurrences(message: Message) -> list[tuple[datetime, str | None]]:
    """The message's wall times: one, or one per repeat, in local wall time (so a weekly
    12:00 stays at 12:00 across a DST change)."""
    if message.repeat is None:
        return [(message.at, None)]
    step = parse_duration(message.repeat.every).days
    out: list[tuple[datetime, str | None]] = []
    t = message.at
    while True:
        if message.repeat.count is not None and len(out) >= message.repeat.count:
            break
        if message.repeat.until is not None and t.date() > message.repeat.until:
            break
        out.append((t, f"@{t.date().isoformat()}"))
        t = t + timedelta(days=step)
    return out


def load_campaign(path: Path, root: Path, config: Config | None, problems: Problems) -> LoadedCampaign | None:
    rel = path.relative_to(root).as_posix()
    located = _read(path, rel, problems)
    if located is None:
        return None
    try:
        campaign = Campaign.model_validate(located.data)
    except ValidationError as exc:
        modelerrors.report(exc, Campaign, located, rel, problems)
        return None
    if config is None:  # references cannot be checked without a valid config
        return LoadedCampaign(path.stem, rel, campaign, located, [], [], valid=False)
    before = len(problems.errors)
    tz = ZoneInfo(config.timezone)
    ag = config.agreement

    def at(*p: Any, key: bool = False) -> tuple[int, int]:
        return located.where(tuple(p), key=key)

    _refs(campaign.priority_areas, ag.priority_areas, "priority area", ("priority_areas",), located, rel, problems)
    _refs(campaign.bases, ag.bases, "basis", ("bases",), located, rel, problems)
    _refs(campaign.parties or [], ag.parties, "party", ("parties",), located, rel, problems)
    period = campaign.period
    if not (ag.period.contains(period.start) and ag.period.contains(period.end)):
        problems.error(rel, *at("period"), f"period: {period.start} – {period.end} is outside the agreement's period {ag.period.start} – {ag.period.end}")

    events = []
    for i, ev in enumerate(campaign.events):
        start = _when(ev.start, tz, rel, at("events", i, "start"), "start", problems)
        end = _when(ev.end, tz, rel, at("events", i, "end"), "end", problems) if ev.end else None
        if not period.contains(ev.start.date()):
            problems.warning(rel, *at("events", i, "start"), f"start: the event on {ev.start:%Y-%m-%d} is outside the campaign's period {period.start} – {period.end}")
        events.append(LoadedEvent(i, ev.title, start, end, ev.location, ev.description))

    messages: list[LoadedMessage] = []
    seen: dict[str, int] = {}
    known_targets = set(config.channels) | {s.get("publisher") for s in config.channels.values()}
    for i, msg in enumerate(campaign.messages):
        if msg.key in seen:
            problems.error(rel, *at("messages", i, "key"), f"key: message key '{msg.key}' is used twice in this file (first on line {at('messages', seen[msg.key], 'key')[0]})")
        seen.setdefault(msg.key, i)
        channels = list(msg.channels) if msg.channels is not None else list(config.defaults.channels)
        if msg.channels is not None:
            _refs(msg.channels, config.channels, "channel", ("messages", i, "channels"), located, rel, problems)
        if not channels:
            problems.error(rel, *at("messages", i), "the message names no channels; add channels: or set defaults.channels in config.yaml")
        for target in msg.overrides:
            if target not in known_targets:
                problems.error(rel, *at("messages", i, "overrides", target, key=True), f"overrides: '{target}' is neither a channel nor a publisher in config.yaml{modelerrors.suggest(target, known_targets - {None})}")
        if msg.image is not None and not (root / msg.image.path).is_file():
            problems.error(rel, *at("messages", i, "image", "path"), f"path: no image file '{msg.image.path}' (paths are relative to the folder of config.yaml)")
        times = []
        for n, (wall, suffix) in enumerate(occurrences(msg)):
            where = at("messages", i, "at") if n == 0 else at("messages", i, "repeat")
            what = "at" if n == 0 else f"repeat on {wall:%Y-%m-%d}"
            if not period.contains(wall.date()):
                problems.error(rel, *where, f"{what}: {wall:%Y-%m-%d %H:%M} is outside the campaign's period {period.start} – {period.end}")
            elif not ag.period.contains(wall.date()):
                problems.error(rel, *where, f"{what}: {wall:%Y-%m-%d %H:%M} is outside the agreement's period {ag.period.start} – {ag.period.end}")
            times.append((_when(wall, tz, rel, where, what, problems), suffix))
        embargo = None
        if msg.embargo is not None:
            embargo = _when(msg.embargo, tz, rel, at("messages", i, "embargo"), "embargo", problems)
            if msg.embargo < msg.at:
                problems.warning(rel, *at("messages", i, "embargo"), "embargo: the embargo ends before the message is sent, so it has no effect")
        messages.append(LoadedMessage(msg, i, channels, times, embargo))
    valid = len(problems.errors) == before
    return LoadedCampaign(path.stem, rel, campaign, located, messages, events, valid=valid)


def campaign_files(root: Path) -> list[Path]:
    folder = root / CAMPAIGN_DIR
    return sorted(p for p in folder.glob("*.yaml") if p.is_file()) if folder.is_dir() else []


def load_project(root: Path) -> Project:
    """Load config and every campaign; never raises for bad input, collects problems."""
    problems = Problems()
    config, located, settings = load_config(root, problems)
    campaigns: dict[str, LoadedCampaign] = {}
    broken: dict[str, str] = {}
    for path in campaign_files(root):
        rel = path.relative_to(root).as_posix()
        loaded = load_campaign(path, root, config, problems)
        if loaded is not None and loaded.valid:
            campaigns[loaded.key] = loaded
        else:
            broken[path.stem] = rel
    return Project(root, config, located, campaigns, broken, problems, settings)
