"""Problems found in the user's files: one error or warning with its place."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    """One finding, printed as ``FILE:LINE:COL: error: message``."""

    file: str
    line: int
    col: int
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class Problems(list[Problem]):
    """An ordered collection of problems, sorted by file and line when reported."""

    def error(self, file: str, line: int, col: int, message: str) -> None:
        self.append(Problem(file, line, col, "error", message))

    def warning(self, file: str, line: int, col: int, message: str) -> None:
        self.append(Problem(file, line, col, "warning", message))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self if p.severity == "warning"]

    def sorted(self) -> list[Problem]:
        return sorted(set(self), key=lambda p: (p.file != "config.yaml", p.file, p.line, p.col, p.message))


class SamverkanError(Exception):
    """An error the user can act on; the CLI prints it and exits 1."""


class InvalidInput(SamverkanError):
    """The plan does not validate; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
