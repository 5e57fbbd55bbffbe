"""The one error type for bad lab specs: every problem, each with its field path."""
from __future__ import annotations

from dataclasses import dataclass

from ..contract import InputError


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class LabConfigError(InputError):
    """Raised before any resource is registered; lists every problem found in the stack's lab config."""

    def __init__(self, problems: list[Problem], source: str = "lab config"):
        self.problems = sorted(set(problems))
        self.source = source
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid {source} ({len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}):\n{lines}")

    def __str__(self) -> str:
        return self.args[0]
