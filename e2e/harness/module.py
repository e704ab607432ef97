"""Installing the trust module (``crates/mxgate-synapse``) into the test venv."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

from harness.procs import TIMINGS

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
CRATE = REPO_ROOT / "crates" / "mxgate-synapse"
# The extension embeds mxgate-core: its sources count for the "changed?" hash too.
HASHED_SOURCES = [CRATE, REPO_ROOT / "crates" / "mxgate-core" / "src", REPO_ROOT / "Cargo.lock"]


def ensure_module_installed() -> None:
    """``pip install ./crates/mxgate-synapse`` into this venv unless the installed copy was
    built from the same sources (hash stamp next to the venv). Debug profile, shared
    CARGO_TARGET_DIR, so a rebuild after a small change takes seconds, not minutes."""
    digest = _source_hash()
    stamp = Path(sys.prefix) / ".mxgate-synapse.sha256"
    if stamp.exists() and stamp.read_text().strip() == digest and _module_importable():
        return
    started = time.monotonic()
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", str(REPO_ROOT / "target"))
    env.setdefault("MATURIN_PEP517_ARGS", "--profile dev")
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(CRATE)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"pip install {CRATE} failed:\n{out.stdout}\n{out.stderr}")
    stamp.write_text(digest)
    TIMINGS.append(("pip install ./crates/mxgate-synapse", time.monotonic() - started))


def _source_hash() -> str:
    digest = hashlib.sha256()
    for root in HASHED_SOURCES:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for file in files:
            if "__pycache__" in file.parts:
                continue
            digest.update(str(file.relative_to(REPO_ROOT)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def _module_importable() -> bool:
    out = subprocess.run([sys.executable, "-c", "import mxgate_synapse._core"], capture_output=True)
    return out.returncode == 0
