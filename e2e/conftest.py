"""pytest glue for the end-to-end tests: failure dumps and a timing summary."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the log tails of the test's federation to the report of a failed test."""
    outcome = yield
    report = outcome.get_result()
    federation = getattr(item, "funcargs", {}).get("fed")
    if report.when == "call" and report.failed and isinstance(federation, harness.Federation):
        federation.failed = True
        report.sections.append(("federation logs", federation.log_tails()))


def pytest_terminal_summary(terminalreporter):
    """Print where the time went (setup of the federation, each test)."""
    if not harness.TIMINGS:
        return
    terminalreporter.section("e2e timings")
    for what, seconds in harness.TIMINGS:
        terminalreporter.write_line(f"{seconds:7.2f} s  {what}")


@contextmanager
def watched(request: pytest.FixtureRequest, federation: harness.Federation) -> Iterator[harness.Federation]:
    """Run a module fixture's federation: stop it at the end; keep its directory when its
    setup or any test that used it failed (the log tails go into the failure reports)."""
    failures_before = request.session.testsfailed
    try:
        yield federation
    except pytest.skip.Exception:
        raise
    except BaseException:
        if not federation.failed:
            federation.failed = True
            federation.dump_logs()
        raise
    else:
        federation.failed = federation.failed or request.session.testsfailed > failures_before
    finally:
        federation.stop()


@pytest.fixture(autouse=True)
def _time_each_test(request: pytest.FixtureRequest):
    """Record the duration of every test body in the timing summary."""
    started = time.monotonic()
    yield
    harness.TIMINGS.append((f"test {request.node.name}", time.monotonic() - started))
