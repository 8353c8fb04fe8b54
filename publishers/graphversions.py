"""Graph API versions and when Meta ends each: the table, and what to say of a channel's
``api_version`` (used by publishers/graph.py, shared by facebook and instagram)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

# -- versions ------------------------------------------------------------------------------
# Graph API versions: (released, available until; None while Meta says "TBD"). From Meta's
# changelog, https://developers.facebook.com/docs/graph-api/changelog/versions/ (read
# December 2026). After its end date a call to a version is served by the oldest version
# still available, without an error: https://developers.facebook.com/docs/graph-api/guides/versioning
GRAPH_VERSIONS: dict[str, tuple[date, date | None]] = {
    "v26.0": (date(2026, 7, 29), None),
    "v25.0": (date(2026, 2, 18), date(2028, 7, 29)),
    "v24.0": (date(2025, 10, 8), date(2028, 2, 18)),
    "v23.0": (date(2025, 5, 29), date(2027, 10, 8)),
    "v22.0": (date(2025, 1, 21), date(2027, 5, 20)),
    "v21.0": (date(2024, 10, 2), date(2027, 1, 21)),
    "v20.0": (date(2024, 5, 21), date(2026, 9, 24)),
    "v19.0": (date(2024, 1, 23), date(2026, 5, 21)),
    "v18.0": (date(2023, 9, 12), date(2026, 1, 26)),
    "v17.0": (date(2023, 5, 23), date(2025, 9, 12)),
    "v16.0": (date(2023, 2, 2), date(2025, 5, 14)),
}
DEFAULT_VERSION = "v25.0"
VERSION_PATTERN = r"^v\d+\.\d+$"
# A channel whose version ends sooner than this: validate warns, doctor fails.
VERSION_NOTICE = timedelta(days=90)

def _version_key(version: str) -> tuple[int, int] | None:
    m = re.match(r"^v(\d+)\.(\d+)$", version)
    return (int(m.group(1)), int(m.group(2))) if m else None


def version_end(version: str) -> date | None:
    """The last day Meta serves ``version``; None when no end is known (a version newer
    than the table, or one Meta has not dated yet). A version older than the table ended
    before the oldest one listed."""
    known = GRAPH_VERSIONS.get(version)
    if known is not None:
        return known[1]
    key = _version_key(version)
    oldest = min(GRAPH_VERSIONS, key=lambda v: _version_key(v) or (0, 0))
    if key is not None and key < (_version_key(oldest) or (0, 0)):
        return GRAPH_VERSIONS[oldest][1]
    return None


def recommended_version(now: datetime) -> str:
    """The default version while it lives well past the notice period; after that the
    newest released one that does."""
    today = now.date()
    good = [v for v, (released, ends) in GRAPH_VERSIONS.items()
            if released <= today and (ends is None or ends - today > VERSION_NOTICE)]
    if DEFAULT_VERSION in good or not good:
        return DEFAULT_VERSION
    return max(good, key=lambda v: _version_key(v) or (0, 0))


def version_notice(version: str, now: datetime) -> str | None:
    """What to say when ``version`` has ended or ends within :data:`VERSION_NOTICE` of
    ``now``; None when it lives on."""
    ends = version_end(version)
    if ends is None:
        return None
    today = now.astimezone(timezone.utc).date()
    better = recommended_version(now)
    if ends < today:
        return (f"Graph API {version} ended on {ends.isoformat()}: Meta answers its calls with a "
                f"newer version, which may behave differently; set api_version: {better}")
    if ends - today <= VERSION_NOTICE:
        days = (ends - today).days
        return (f"Graph API {version} ends on {ends.isoformat()}, in {days} day{'s' if days != 1 else ''}; "
                f"after that Meta answers its calls with a newer version without saying so: "
                f"set api_version: {better}")
    return None


def version_problems(settings: Any, now: datetime) -> list[tuple[str, str, str]]:
    """``validate``'s finding on a channel's ``api_version``: (setting, severity, text)."""
    said = version_notice(settings.api_version, now)
    return [("api_version", "warning", said)] if said else []
