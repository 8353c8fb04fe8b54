"""Checks of what each message says on each channel (rendering, readability, privacy)."""

from __future__ import annotations

from .loading import Project
from .problems import Problem


def check_content(project: Project) -> list[Problem]:
    return []
