"""``samverkan preview``: what would be published, written to files by the very code that
publishes (the channel's publisher builds the payload; only the sending is left out)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from .loading import LoadedCampaign, LoadedMessage, Project
from .modelerrors import suggest
from .plan import Delivery, occurrence_deliveries
from .problems import InvalidInput, Problem, SamverkanError

PAYLOAD_FIELDS = "payload.json"


def _campaign(project: Project, key: str) -> LoadedCampaign:
    if key in project.campaigns:
        return project.campaigns[key]
    if key in project.broken:
        file = project.broken[key]
        raise InvalidInput([p for p in project.problems.sorted() if p.file == file] or project.problems.sorted())
    known = sorted(project.campaigns)
    raise SamverkanError(f"no campaign '{key}'{suggest(key, known)} (campaigns: {', '.join(known) or 'none'})")


def _message(campaign: LoadedCampaign, key: str) -> LoadedMessage:
    found = campaign.message(key)
    if found is None:
        keys = [m.key for m in campaign.messages]
        raise SamverkanError(f"no message '{key}' in {campaign.key}{suggest(key, keys)} (messages: {', '.join(keys)})")
    return found


def occurrence(message: LoadedMessage, now: datetime) -> tuple[datetime, str | None] | None:
    """The occurrence a preview shows, as ``(time, repeat suffix)``: the next one with a
    delivery still due at ``now`` (an embargoed message's public channels go out after its
    press release), or the first if all are past; None for a message with no times."""
    times = sorted(message.times, key=lambda ts: ts[0])
    if not times:
        return None

    def last_due(when: datetime) -> datetime:
        return max((message.due(when, c) for c in message.channels), default=when)

    return next((ts for ts in times if last_due(ts[0]) >= now), times[0])


def select(project: Project, target: str, channel: str | None, now: datetime) -> list[Delivery]:
    """The deliveries ``CAMPAIGN[/MESSAGE[/CHANNEL]]`` names, one per message and channel."""
    if project.config is None:
        raise InvalidInput(project.problems.sorted())
    parts = target.strip().strip("/").split("/")
    if not parts[0] or len(parts) > 3:
        raise SamverkanError(f"'{target}' is not CAMPAIGN or CAMPAIGN/MESSAGE")
    if len(parts) == 3:
        if channel is not None and channel != parts[2]:
            raise SamverkanError(f"'{target}' names channel {parts[2]}, --channel says {channel}")
        channel = parts[2]
    if channel is not None and channel not in project.config.channels:
        known = list(project.config.channels)
        raise SamverkanError(f"no channel '{channel}'{suggest(channel, known)} (channels: {', '.join(known)})")
    campaign = _campaign(project, parts[0])
    messages = [_message(campaign, parts[1])] if len(parts) > 1 else list(campaign.messages)
    chosen = []
    for message in messages:
        picked = occurrence(message, now)
        if picked is None:
            continue
        # Every channel of the occurrence, each at its own time (an embargo holds back the
        # public ones): what publishing will send.
        chosen += [d for d in occurrence_deliveries(campaign, message, *picked)
                   if channel is None or d.channel == channel]
    if not chosen and channel is not None:
        raise SamverkanError(f"{target.strip('/')} is not sent to channel {channel}")
    return chosen


def build(project: Project, delivery: Delivery) -> tuple[Any, Any]:
    """(rendered message, payload) for ``delivery``, as publishing would make them;
    RenderError if it does not render."""
    from publishers import base

    from .rendering import render

    settings = project.channel_settings.get(delivery.channel)
    if settings is None:
        raise SamverkanError(f"channel {delivery.channel} is not configured or its settings do not validate; run samverkan validate")
    rendered = render(project, delivery)  # RenderError: the caller reports it
    channel = base.Channel(delivery.channel, settings, project.root)
    publisher = base.get(settings.publisher)(channel)
    try:
        payload = publisher.payload(rendered)
    except base.PublishError as exc:
        raise SamverkanError(f"{delivery.id}: {exc}") from None
    return rendered, payload


def folder_of(out: Path, delivery: Delivery) -> Path:
    return out / delivery.campaign / delivery.message / delivery.channel


def write(out: Path, delivery: Delivery, payload: Any) -> list[Path]:
    """Write the payload's files and its fields (``payload.json``) under
    ``out/<campaign>/<message>/<channel>/``; files an earlier preview left there go."""
    from publishers.base import private_folder, write_private

    folder = private_folder(folder_of(out, delivery))  # unpublished, maybe embargoed: the owner's only
    for old in folder.iterdir():
        if old.is_file():
            old.unlink()
    paths = []
    for name, data in payload.files.items():
        path = folder / Path(name).name  # a publisher names files, never folders
        write_private(path, data if isinstance(data, bytes) else str(data).encode("utf-8"))
        paths.append(path)
    fields = folder / PAYLOAD_FIELDS
    write_private(fields, (json.dumps(payload.fields, ensure_ascii=False, indent=2, default=str) + "\n").encode("utf-8"))
    paths.append(fields)
    return paths


def preview(
    project: Project, target: str, channel: str | None = None, out: Path = Path("preview"),
    clock: Callable[[], datetime] | None = None,
) -> list[Path]:
    """Render ``target`` for each of its channels and write what would be published;
    the paths written. Nothing is written if any of it fails to render."""
    now = clock() if clock else datetime.now(project.tz)
    deliveries = select(project, target, channel, now)
    from .rendering import RenderError

    built: list[tuple[Delivery, Any]] = []
    problems: dict[tuple[str, int, str], Problem] = {}
    for d in deliveries:
        try:
            built.append((d, build(project, d)[1]))
        except RenderError as exc:  # a template's error once, not once per channel
            problems.setdefault((exc.file, exc.line, exc.message), exc.problem())
    if problems:
        raise InvalidInput(sorted(problems.values()))
    return [path for d, payload in built for path in write(out, d, payload)]
