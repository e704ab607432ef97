"""The one-command demo (``./scripts/demo --once``): its tour runs green and prints the
refusals (by rule) and the room trust levels it should.

Runs the demo's Python entry (``python -m demo --once``, what ``scripts/demo`` execs after
installing and building) so that the test needs no cargo build of its own; skipped while
``mxgate serve`` is not built.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness import mxgate_serve_missing

E2E_DIR = Path(__file__).resolve().parent
SKIP_REASON = mxgate_serve_missing()
pytestmark = pytest.mark.skipif(SKIP_REASON is not None, reason=str(SKIP_REASON))

# (step number, who, outcome label) in the order the tour runs them.
EXPECTED_OUTCOMES = [
    (1, "alice@hs-a", "allowed"),
    (2, "alice@hs-a", "allowed"),
    (3, "bob@hs-b", "allowed"),
    (4, "alice@hs-a", "refused: invite_closed_room"),
    (5, "alice@hs-a", "allowed"),
    (6, "alice@hs-a", "allowed"),
    (7, "erin@ext", "allowed"),
    (8, "erin@ext", "refused: displayname_change"),
    (9, "alice@hs-a", "refused: external_moderator"),
    (10, "alice@hs-a", "allowed"),
    (11, "alice@hs-a", "allowed"),
    (12, "alice@hs-a", "refused: unknown_server"),
    (13, "mallory@unk", "refused: gateway:unknown_origin"),
    (14, "erin@ext", "refused: unknown_server"),
]
# Trust levels printed by steps 1, 3, 7, 11, 14: internal only, then trusted externals.
EXPECTED_LEVELS = ["green", "green", "orange", "orange", "orange"]


@pytest.fixture(scope="module")
def demo() -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "demo", "--once"],
        cwd=E2E_DIR, capture_output=True, text=True, timeout=600,
    )


def test_demo_exits_zero_with_every_step_as_expected(demo: subprocess.CompletedProcess):
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-4000:]
    assert f"tour: {len(EXPECTED_OUTCOMES)}/{len(EXPECTED_OUTCOMES)} steps as expected" in demo.stdout
    assert "NOT AS EXPECTED" not in demo.stdout
    assert "\x1b[" not in demo.stdout, "colours although stdout is not a terminal"


def test_each_step_prints_the_outcome_it_got(demo: subprocess.CompletedProcess):
    steps = _steps(demo.stdout)
    assert [(n, who) for n, who, _ in steps] == [(n, who) for n, who, _ in EXPECTED_OUTCOMES]
    for (number, _, outcome), (_, _, printed) in zip(EXPECTED_OUTCOMES, steps):
        assert printed.startswith(f"→ {outcome}"), f"step {number}: {printed!r}"


def test_refusals_name_the_rule_and_the_real_error(demo: subprocess.CompletedProcess):
    printed = {n: line for n, _, line in _steps(demo.stdout)}
    # Refused by the trust module in the client's own request: 403 M_FORBIDDEN and the rule's message.
    for number, rule in ((4, "invite_closed_room"), (9, "external_moderator"), (12, "unknown_server")):
        assert f'403 M_FORBIDDEN "refused by trust rule {rule}: ' in printed[number], printed[number]
    # Soft-failed federated events: seen in hs-a's module audit log, not applied on hs-a.
    assert "alice still sees 'erin'" in printed[8] and "Erin the Renamed" in printed[8]
    assert "refused by trust rule displayname_change" in printed[8]
    assert "alice sees no membership for mallory" in printed[14]
    # Refused at the edge by mxgate: the relayed 403 and the gateway's own audit line.
    assert re.search(r"got 403 M_FORBIDDEN .*mxgate audit: 403 rejected unknown_origin PUT invite", printed[13])
    assert "alice did not get the invite" in printed[13]


def test_trust_levels_as_members_join(demo: subprocess.CompletedProcess):
    levels = re.findall(r"^    room trust level: (\w+) \((.*)\)$", demo.stdout, re.MULTILINE)
    assert [level for level, _ in levels] == EXPECTED_LEVELS
    green_two_servers = levels[1][1]
    assert green_two_servers.startswith("internal: 127.0.0.1:") and " localhost:" in green_two_servers
    assert "external: -" in green_two_servers and "unknown: -" in green_two_servers
    last = levels[-1][1]
    assert re.search(r"external: 127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+, unknown: -$", last), last


def test_federation_summary_says_whether_outbound_is_on(demo: subprocess.CompletedProcess):
    assert re.search(r"^mxgate  outbound (ON|OFF)", demo.stdout, re.MULTILINE), demo.stdout[:2000]
    assert "unknown (not in mxgate.toml)" in demo.stdout


def _steps(output: str) -> list[tuple[int, str, str]]:
    """(number, who, outcome line) of each step block."""
    found = re.findall(r"^\s*(\d+)\. (\S+) tries to: .*\n\s+(→ .*)$", output, re.MULTILINE)
    return [(int(n), who, line) for n, who, line in found]
