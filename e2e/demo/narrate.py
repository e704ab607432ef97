"""Printing the tour: one block per step, colours only when stdout is a terminal.

The lines the test (``e2e/test_demo.py``) reads are stable::

     3. alice@hs-a tries to: invite erin@ext ...
        → refused: invite_closed_room — 403 M_FORBIDDEN "refused by trust rule ..."
        why: ...
        room trust level: green (internal: ..., external: -, unknown: -)
        ✓ as expected (refused: invite_closed_room)
    tour: 14/14 steps as expected
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, TextIO

_COLOURS = {"green": "32", "orange": "33", "red": "31", "bold": "1", "dim": "2", "cyan": "36"}


@dataclass(frozen=True)
class Outcome:
    """What happened: ``allowed``, or ``refused`` by ``rule`` (with the error seen)."""

    verdict: str
    rule: str = ""
    detail: str = ""

    @property
    def label(self) -> str:
        """``allowed`` or ``refused: RULE`` (what expectations are written as)."""
        return self.verdict if not self.rule else f"{self.verdict}: {self.rule}"


class Narrator:
    """Writes the tour to ``out`` (stdout by default)."""

    def __init__(self, out: TextIO | None = None, colour: bool | None = None):
        self.out = out or sys.stdout
        self.colour = self.out.isatty() if colour is None else colour

    def paint(self, text: str, colour: str) -> str:
        """``text`` in ``colour`` when writing to a terminal."""
        if not self.colour:
            return text
        return f"\x1b[{_COLOURS[colour]}m{text}\x1b[0m"

    def line(self, text: str = "") -> None:
        """One line, flushed (the tour is watched live)."""
        print(text, file=self.out, flush=True)

    def heading(self, text: str) -> None:
        """A section title."""
        self.line()
        self.line(self.paint(f"== {text} ==", "bold"))

    def step(self, number: int, who: str, tries: str) -> None:
        """The start of a step: who tries what."""
        self.line()
        self.line(self.paint(f"{number:2d}. {who} tries to: {tries}", "bold"))

    def outcome(self, outcome: Outcome) -> None:
        """What happened (from the real responses)."""
        colour = "green" if outcome.verdict == "allowed" else "red"
        text = f"    → {self.paint(outcome.label, colour)}"
        self.line(f"{text} — {outcome.detail}" if outcome.detail else text)

    def why(self, text: str) -> None:
        """Which rule or path explains the outcome."""
        self.line(self.paint(f"    why: {text}", "dim"))

    def trust(self, trust: dict[str, Any]) -> None:
        """A room's trust level as the module's endpoint returned it."""
        level = str(trust.get("level"))
        servers = trust.get("servers", {})
        parts = ", ".join(f"{kind}: {' '.join(servers.get(kind, [])) or '-'}" for kind in ("internal", "external", "unknown"))
        self.line(f"    room trust level: {self.paint(level, level if level in _COLOURS else 'bold')} ({parts})")

    def verdict(self, ok: bool, expected: str, got: str) -> None:
        """Whether the step matched what it declared."""
        if ok:
            self.line(self.paint(f"    ✓ as expected ({expected})", "green"))
        else:
            self.line(self.paint(f"    ✗ NOT AS EXPECTED: expected {expected}, got {got}", "red"))
