"""``samverkan validate``: every check over the whole plan, in one run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "strict": self.strict,
            "campaigns": len(self.project.campaigns),
            "broken": sorted(self.project.broken.values()),
            # of broken: no error of their own, held back by config.yaml's errors
            "unchecked": sorted(self.project.unchecked.values()),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [p.as_dict() for p in self.problems],
        }


def validate(root: Path, *, strict: bool = False, project: Project | None = None) -> Report:
    """Load and check everything; under ``strict`` every warning counts as an error."""
    from .contentchecks import check_content, load_and_check

    if project is None:
        project, content = load_and_check(root)
    else:
        content = check_content(project)
    found = list(project.problems) + list(check_agreement(project)) + content
    if strict:
        found = [Problem(p.file, p.line, p.col, "error", p.message) for p in found]
    return Report(project, Problems(found).sorted(), strict)
