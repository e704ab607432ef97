"""Prometheus metrics (on Synapse's registry, so they appear on its /metrics)."""

from __future__ import annotations

from typing import Mapping

from prometheus_client import Counter, Gauge

LEVELS = ("green", "orange", "red")

ROOMS_BY_LEVEL = Gauge(
    "mxgate_rooms_by_trust_level",
    "Rooms this module has seen, by trust level (green, orange, red).",
    ["level"],
)
REFUSALS = Counter(
    "mxgate_trust_refusals",
    "Actions the trust rules refused (outcome=refused) or would refuse in report mode.",
    ["rule", "outcome"],
)

for _level in LEVELS:
    ROOMS_BY_LEVEL.labels(level=_level).set(0)


def set_levels(levels: Mapping[str, str]) -> None:
    """Sets the gauge from the current level of every known room."""
    for level in LEVELS:
        ROOMS_BY_LEVEL.labels(level=level).set(sum(1 for v in levels.values() if v == level))


def count_refusal(rule: str, outcome: str) -> None:
    """Counts one refusal (or would-be refusal)."""
    REFUSALS.labels(rule=rule, outcome=outcome).inc()
