"""Checks a publisher makes of its own channel's settings and messages, for ``validate``.

A publisher may have, as static methods (looked up like ``files``, see publishers/base.py):

- ``settings_problems(settings, now)`` → ``[(setting, severity, text)]``: e.g. a Graph API
  version that Meta ends within 90 days of ``now``;
- ``message_problems(settings, parts, image)`` → ``[(field, severity, text)]``: what the
  channel cannot take of a message as rendered for it (``field`` is ``image`` or
  ``body``), e.g. Instagram's caption limits or a message without a picture. ``image``
  is a :class:`MessageImage` (its path, alt text and type by its content) or None.

Only the messages that go to such a channel are rendered here, once each (their first
occurrence), so a plan without one costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .loading import CONFIG_FILE, Project
from .problems import Problem


def channel_problems(project: Project, now: datetime) -> list[Problem]:
    """Every channel's findings on its own settings and on the messages it gets."""
    from publishers.base import get

    from .rendering import RenderError, render_parts, resolve

    out: list[Problem] = []
    checks: dict[str, Any] = {}
    for name, settings in project.channel_settings.items():
        cls = get(settings.publisher)
        for setting, severity, text in getattr(cls, "settings_problems", lambda s, n: [])(settings, now):
            line, col = project.config_where("channels", name, setting)
            out.append(Problem(CONFIG_FILE, line, col, severity, f"channel {name}: {setting}: {text}"))
        check = getattr(cls, "message_problems", None)
        if check is not None:
            checks[name] = check
    if not checks:
        return out
    for campaign in project.campaigns.values():
        for message in campaign.messages:
            if not message.times:
                continue
            for channel in message.channels:
                check = checks.get(channel)
                if check is None:
                    continue
                settings = project.channel_settings[channel]
                res = resolve(message, channel, settings.publisher)
                try:
                    parts, _ = render_parts(project, campaign, message, channel, message.due(message.times[0][0], channel), res)
                except RenderError:
                    continue  # reported by the content checks
                image = _image(project, message.model.image)
                for what, severity, text in check(settings, parts, image):
                    base = ("messages", message.index)
                    path = res.sources["body"] if what == "body" else (*base, what) if image is not None else base
                    line, col = campaign.where(*path)
                    out.append(Problem(campaign.file, line, col, severity, f"channel {channel}: {text}"))
    return out


@dataclass(frozen=True)
class MessageImage:
    """A message's picture as a channel's checks see it."""

    path: str  # as the plan names it
    alt: str
    media_type: str | None  # by its first bytes; None if it cannot be read (validate says why)


def _image(project: Project, image: Any) -> MessageImage | None:
    if image is None:
        return None
    from publishers.base import PlanFileError, plan_file

    try:
        media_type = plan_file(project.root, image.path, image=True, read=False).mime
    except PlanFileError:
        media_type = None
    return MessageImage(image.path, image.alt, media_type)
