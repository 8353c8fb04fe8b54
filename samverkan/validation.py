"""``samverkan validate``: every check over the whole plan, in one run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from .loading import Project
from .plan import check_agreement
from .problems import Problem, Problems


@dataclass
class Report:
    project: Project
    problems: list[Problem]
    strict: bool

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def with_errors(self) -> list[str]:
        """The campaign files with an error of their own, whatever found it (the schema or
        the content checks): none of them is valid, and the daemon holds all of them."""
        files = {c.file for c in self.project.campaigns.values()} | set(self.project.broken.values())
        unchecked = set(self.project.unchecked.values())
        return sorted({p.file for p in self.errors if p.file in files and p.file not in unchecked}
                      | (set(self.project.broken.values()) - unchecked))

    @property
    def valid_files(self) -> int:
        return len(self.project.campaigns) + len(self.project.broken) - len(self.with_errors) - len(self.project.unchecked)

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "strict": self.strict,
            "campaigns": self.valid_files,
            # every file with errors: held by the daemon until it validates
            "broken": self.with_errors + sorted(self.project.unchecked.values()),
            # of broken: no error of their own, held back by config.yaml's errors
            "unchecked": sorted(self.project.unchecked.values()),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [p.as_dict() for p in self.problems],
        }


def channel_file_problems(project: Project) -> list[Problem]:
    """Problems inside the files the channels name (a press list's bad lines), from each
    publisher's optional ``file_problems``. (A file two channels share gives the same
    problems twice, which the report's sorting makes one.)"""
    from publishers.base import get

    out: list[Problem] = []
    for settings in project.channel_settings.values():
        hook = getattr(get(settings.publisher), "file_problems", None)
        if hook is not None:
            out += [Problem(file, line, col, "error", text) for file, line, col, text in hook(settings, project.root)]
    return out


def validate(root: Path, *, strict: bool = False, project: Project | None = None,
             clock: Callable[[ZoneInfo], Callable[[], datetime]] | None = None) -> Report:
    """Load and check everything; under ``strict`` every warning counts as an error.
    ``clock``: the plan's time zone → its clock (``--now``), for rules that depend on the
    date (a Graph API version that ends soon); default: the real time."""
    from .channelrules import channel_problems
    from .contentchecks import check_content, load_and_check

    if project is None:
        project, content = load_and_check(root)
    else:
        content = check_content(project)
    now = clock(project.tz)() if clock is not None else datetime.now(timezone.utc)
    found = (list(project.problems) + list(check_agreement(project)) + content + channel_file_problems(project)
             + channel_problems(project, now))
    if strict:
        found = [Problem(p.file, p.line, p.col, "error", p.message) for p in found]
    return Report(project, Problems(found).sorted(), strict)
