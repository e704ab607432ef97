"""The status page in a real headless browser (Debian's ``chromium``).

The page is served by ``crates/mxgate/examples/status_demo.rs``: the library's
``StatusBoard`` with sample data (fronted homeservers, internal / local_authority /
external remotes, keys expiring in 5 h loaded by the real keyring, refusals of an
unknown server). Chromium loads it, the DOM is checked, and a screenshot is kept as
``test-artifacts/status.png``.

Chromium is installed with apt-get when missing and the test runs as root;
otherwise the test is skipped with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from harness import free_port, wait_until
from harness.procs import REPO_ROOT

ARTIFACTS = REPO_ROOT / "test-artifacts"
DEMO = REPO_ROOT / "target" / "debug" / "examples" / "status_demo"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> str:
    """The chromium binary, installing Debian's package first if it is missing."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed (apt-get install -y chromium, as root)")
    subprocess.run(["apt-get", "update"], check=True, capture_output=True, timeout=600)
    subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
        check=True,
        capture_output=True,
        timeout=1200,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    found = shutil.which("chromium")
    if not found:
        pytest.fail("apt-get installed chromium but it is not on PATH")
    return found


@pytest.fixture(scope="module")
def status_url() -> Iterator[str]:
    subprocess.run(
        ["cargo", "build", "-q", "-p", "mxgate", "--example", "status_demo"],
        cwd=REPO_ROOT,
        check=True,
        timeout=1200,
    )
    port = free_port()
    demo = subprocess.Popen(
        [str(DEMO), f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until(lambda: _answers(url), timeout=30, what="status demo to listen")
        yield url
    finally:
        demo.terminate()
        demo.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _run_chromium(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="mxgate-chromium-") as profile:
        return subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )


def test_status_page_renders_tiers_markers_and_refusals(status_url: str):
    binary = chromium()
    dom = _run_chromium(binary, "--dump-dom", status_url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "<title>mxgate status</title>" in html
    for server in ["hs1.gov.test", "hs2.gov.test", "ministry.gov.test", "city.example", "partner.example", "stranger.example"]:
        assert f"<code>{server}</code>" in html, server
    # Servers grouped by tier, each group with its colour marker.
    sections = re.findall(r'<section class="tier" data-tier="([^"]+)"><h2><span class="dot (\w+)">', html)
    assert sections == [
        ("internal", "green"),
        ("local_authority", "orange"),
        ("external", "orange"),
        ("unknown", "red"),
    ], sections
    # Key expiry warning (< 24 h) and the down upstream.
    assert re.search(r"⚠ keys of <b>partner\.example</b>: expiring until .*\(in [45] h\)", html), html
    assert "⚠ upstream of <b>hs2.gov.test</b> is down" in html
    # Recent refusals with their reasons, newest first.
    reasons = re.findall(r'<td class="bad reason">([a-z_]+)</td>', html)
    assert reasons == [
        "unknown_origin",
        "upstream_unreachable",
        "destination_not_allowed",
        "bad_signature",
        "unknown_origin",
    ], reasons
    assert '<meta http-equiv="refresh" content="5">' in html


def test_status_page_screenshot_is_kept(status_url: str):
    binary = chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / "status.png"
    target.unlink(missing_ok=True)
    shot = _run_chromium(binary, f"--screenshot={target}", "--window-size=1200,900", status_url)
    assert shot.returncode == 0, shot.stderr[-2000:]
    data = target.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000, "screenshot suspiciously small (blank page?)"
