"""Finding deliveries from what a person types: ``campaign/message[/channel[@date]]``."""

from __future__ import annotations

from datetime import datetime

from .loading import LoadedCampaign, Project
from .plan import Delivery, occurrence_deliveries
from .problems import SamverkanError


def campaign_named(project: Project, key: str) -> LoadedCampaign:
    """The valid campaign ``key``, or an error that says why not."""
    if key in project.campaigns:
        return project.campaigns[key]
    if key in project.broken:
        raise SamverkanError(f"the campaign {key} does not validate ({project.broken[key]}); run samverkan validate")
    from .modelerrors import suggest

    raise SamverkanError(f"no campaign '{key}'{suggest(key, project.campaigns)}")


def select(project: Project, target: str, now: datetime, channel: str | None = None) -> list[Delivery]:
    """Deliveries named by ``target``. A delivery id names one; a message names each of its
    channels, for a repeated message at the latest occurrence not after ``now`` (or the
    first, if none has come yet)."""
    parts = target.strip("/").split("/")
    if len(parts) not in (2, 3):
        raise SamverkanError(f"'{target}' is neither a message (campaign/message) nor a delivery (campaign/message/channel)")
    campaign = campaign_named(project, parts[0])
    message = campaign.message(parts[1])
    if message is None:
        from .modelerrors import suggest

        keys = [m.key for m in campaign.messages]
        raise SamverkanError(f"no message '{parts[1]}' in {campaign.key}{suggest(parts[1], keys)} (messages: {', '.join(keys)})")
    # By occurrence (the deliveries of one occurrence may differ in time: an embargo holds
    # the public channels back), in plan order.
    occurrences = [occurrence_deliveries(campaign, message, when, suffix) for when, suffix in message.times]
    all_ = [d for o in occurrences for d in o]
    if len(parts) == 3:
        found = [d for d in all_ if d.id == target.strip("/")]
        if not found:
            ids = sorted({d.id for d in all_})
            hint = f" (e.g. {ids[0]})" if ids else ""
            raise SamverkanError(f"no delivery '{target}'{hint}; a repeated message's deliveries end in @YYYY-MM-DD")
        return found
    past = [o for o in occurrences if min(d.at for d in o) <= now]
    chosen = [d for d in (past[-1] if past else occurrences[0]) if channel is None or d.channel == channel]
    if channel is not None and not chosen:
        raise SamverkanError(f"{campaign.key}/{message.key} is not sent to channel {channel} (channels: {', '.join(message.channels)})")
    return chosen
