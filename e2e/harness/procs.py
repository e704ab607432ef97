"""Processes, TLS material and waiting: the plumbing under the federation."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import httpx
from signedjson.key import read_signing_keys

from harness.errors import HarnessError, MatrixError

LOOPBACK = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_TAIL_LINES = 50
STARTUP_TIMEOUT_S = 60.0
SHUTDOWN_TIMEOUT_S = 10.0

# Time spent in each phase, printed by conftest.py at the end of the run.
TIMINGS: list[tuple[str, float]] = []


def mxgate_binary() -> Path:
    """The mxgate binary: $MXGATE_BIN, else target/debug/mxgate."""
    return Path(os.environ.get("MXGATE_BIN", REPO_ROOT / "target" / "debug" / "mxgate"))


def mxgate_serve_missing() -> str | None:
    """None when the mxgate binary supports ``serve``; otherwise why not (a skip reason)."""
    binary = mxgate_binary()
    if not binary.exists():
        return f"mxgate binary not built ({binary}); run `cargo build -p mxgate`"
    try:
        out = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"`{binary} --help` failed: {err}"
    text = out.stdout + out.stderr
    if out.returncode != 0 or "serve" not in text:
        return f"`mxgate --help` does not list `serve` yet (gateway not built): {text.strip()[:120]!r}"
    return None


class LocalCA:
    """A throw-away certificate authority made with openssl."""

    def __init__(self, dir: Path, name: str = "mxgate e2e CA"):
        dir.mkdir(parents=True)
        self.dir = dir
        self.cert = dir / "ca.crt"
        self.key = dir / "ca.key"
        _openssl(
            "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", self.key, "-out", self.cert, "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )

    def issue(self, dir: Path, label: str, ip: str = LOOPBACK) -> tuple[Path, Path]:
        """A leaf certificate for ``ip`` (IP SAN); returns (cert, key) paths."""
        key, csr, cert, ext = (dir / f"{label}.{s}" for s in ("key", "csr", "crt", "ext"))
        ext.write_text(
            f"subjectAltName=IP:{ip}\nbasicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n"
        )
        _openssl("req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-keyout", key, "-out", csr, "-subj", f"/CN={ip}")
        _openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key, "-CAcreateserial",
                 "-out", cert, "-days", "2", "-extfile", ext)
        return cert, key


class Process:
    """A child process in its own process group, with its output in a log file."""

    def __init__(self, name: str, argv: list[str], cwd: Path, logs: list[Path], stdout: Path | None = None):
        self.name = name
        self.logs = logs
        out_path = stdout or logs[0]
        self._out = open(out_path, "ab")
        self.popen = subprocess.Popen(
            argv, cwd=cwd, stdout=self._out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen.poll() is None

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after a grace period."""
        if self.alive():
            _signal_group(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(SHUTDOWN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _signal_group(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        self._out.close()

    def tail(self) -> str:
        """The last lines of each of this process's logs."""
        status = "running" if self.alive() else f"exited {self.popen.returncode}"
        return "\n".join(log_tail(log, f"{self.name} ({status})") for log in self.logs if log.exists())


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    alive: Process | None = None,
    interval: float = 0.1,
) -> None:
    """Poll ``check`` until it is true; raise :class:`HarnessError` on timeout or process exit."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if alive is not None and not alive.alive():
            code = alive.popen.returncode
            raise HarnessError(f"{alive.name} exited ({code}) before: {what}\n{alive.tail()}")
        try:
            if check():
                return
        except (httpx.HTTPError, OSError, MatrixError) as err:
            last_error = err
        time.sleep(interval)
    raise HarnessError(f"timed out after {timeout:.0f} s waiting for: {what} (last error: {last_error})")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]



def load_signing_key(path: Path):
    """The first signing key of a Synapse signing-key file."""
    with open(path) as f:
        return read_signing_keys(f)[0]



def _openssl(*args: Any) -> None:
    out = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)
    if out.returncode != 0:
        raise HarnessError(f"openssl {args[0]} failed: {out.stderr}")


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def log_tail(path: Path, title: str) -> str:
    """The last lines of a log file under a title line."""
    lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    return f"----- {title}: {path} (last {len(lines)} lines) -----\n" + "\n".join(lines)
