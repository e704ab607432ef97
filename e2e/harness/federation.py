"""The federation under test: homeservers, their gateways, and their processes."""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from signedjson.key import (
    encode_verify_key_base64,
    generate_signing_key,
    get_verify_key,
    write_signing_keys,
)
from signedjson.sign import sign_json

from harness.client import User, json_or_raise
from harness.configs import Gateway, Remote, write_gateway_config, write_synapse_config
from harness.errors import HarnessError
from harness.procs import (
    LOOPBACK,
    STARTUP_TIMEOUT_S,
    TIMINGS,
    LocalCA,
    Process,
    free_port,
    log_tail,
    mxgate_binary,
    wait_until,
)


class Homeserver:
    """A Synapse homeserver of the federation (configured by :class:`Federation`)."""

    def __init__(self, fed: "Federation", label: str, role: str, outbound: bool):
        if role not in ("direct", "gateway"):
            raise ValueError(f"unknown role {role!r}")
        if outbound and role != "gateway":
            raise ValueError("outbound via gateway needs role='gateway'")
        self.fed = fed
        self.label = label
        self.role = role
        self.outbound = outbound
        self.dir = fed.dir / label
        self.dir.mkdir()
        self.port = free_port()
        self.server_name = f"{LOOPBACK}:{self.port}"
        self.client_port = free_port()
        self.synapse_fed_port = self.port if role == "direct" else free_port()
        self.signing_key_path = self.dir / "signing.key"
        self.signing_key = generate_signing_key(f"a_{secrets.token_hex(2)}")
        with open(self.signing_key_path, "w") as f:
            write_signing_keys(f, [self.signing_key])
        self.cert, self.key = fed.ca.issue(self.dir, label)
        self.shared_secret = secrets.token_hex(16)
        self.gateway: Gateway | None = None
        self.remotes: list[Remote] = []
        self.log_path = self.dir / "homeserver.log"

    @property
    def client_url(self) -> str:
        """Base URL of the plain-HTTP client/admin listener."""
        return f"http://{LOOPBACK}:{self.client_port}"

    @property
    def federation_url(self) -> str:
        """Where other servers reach this server's federation API (TLS)."""
        return f"https://{self.server_name}"

    @property
    def key_id(self) -> str:
        """The id of this server's signing key, e.g. ``ed25519:a_1f3c``."""
        return f"{self.signing_key.alg}:{self.signing_key.version}"

    @property
    def verify_key_base64(self) -> str:
        """The unpadded base64 public key, as pinned in ``[[remote]] keys``."""
        return encode_verify_key_base64(get_verify_key(self.signing_key))

    def trust(self, server: "Homeserver", tier: str = "external", pin_keys: bool = False) -> None:
        """Add ``server`` as a ``[[remote]]`` of this server's gateway."""
        if self.role != "gateway":
            raise ValueError("only a server behind the gateway has a trust list")
        self.remotes.append(Remote(server, tier=tier, pin_keys=pin_keys))

    def register(self, localpart: str, admin: bool = False, password: str | None = None) -> "User":
        """Register a user through the shared-secret admin API and return a client for it."""
        password = password or secrets.token_hex(8)
        url = f"{self.client_url}/_synapse/admin/v1/register"
        with httpx.Client(timeout=30) as http:
            nonce = json_or_raise(http.get(url), "GET", url)["nonce"]
            digest = _registration_mac(self.shared_secret, nonce, localpart, password, admin)
            body = {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": digest,
            }
            reply = json_or_raise(http.post(url, json=body), "POST", url)
        return User(self, reply["user_id"], reply["access_token"])

    def log_text(self) -> str:
        """Synapse's log (including the access log) so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signed_request(
        self,
        method: str,
        destination: "Homeserver",
        uri: str,
        content: Any = None,
    ) -> tuple[dict[str, str], bytes]:
        """Sign a federation request exactly like Synapse does; returns (headers, body).

        ``uri`` is the raw request target (path and query as sent). The body is the
        canonical-enough JSON encoding Synapse sends; the signature covers its parsed value.
        """
        request: dict[str, Any] = {
            "method": method,
            "uri": uri,
            "origin": self.server_name,
            "destination": destination.server_name,
        }
        if content is not None:
            request["content"] = content
        signed = sign_json(request, self.server_name, self.signing_key)
        sig = signed["signatures"][self.server_name][self.key_id]
        header = (
            f'X-Matrix origin="{self.server_name}",key="{self.key_id}",'
            f'sig="{sig}",destination="{destination.server_name}"'
        )
        headers = {"Authorization": header, "User-Agent": "mxgate-e2e"}
        body = b""
        if content is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(content, separators=(",", ":")).encode()
        return headers, body

    def __repr__(self) -> str:
        return f"<Homeserver {self.label} {self.server_name} {self.role}>"


class Federation:
    """A set of homeservers (and gateways) in one temporary directory."""

    def __init__(self, keep_dir: bool | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="mxgate-e2e-"))
        self.keep_dir = keep_dir if keep_dir is not None else bool(os.environ.get("MXGATE_E2E_KEEP"))
        self.ca = LocalCA(self.dir / "ca")
        self.servers: list[Homeserver] = []
        self.processes: list[Process] = []
        self.failed = False
        self._stopped = False
        atexit.register(self.stop)

    def __enter__(self) -> "Federation":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.failed = True
            self.dump_logs()
        self.stop()

    def add_server(self, label: str, role: str = "direct", outbound: bool = False) -> Homeserver:
        """Declare a homeserver; ports, certs and keys are made now, processes at start()."""
        server = Homeserver(self, label, role, outbound)
        self.servers.append(server)
        return server

    def start(self) -> None:
        """Write every config, start all Synapses in parallel, then the gateways; wait for all."""
        started = time.monotonic()
        self.write_configs()
        synapses = [self._spawn_synapse(s) for s in self.servers]
        gateways = [self._spawn_gateway(s) for s in self.servers if s.gateway]
        try:
            for proc, server in zip(synapses, self.servers):
                wait_until(
                    lambda: _synapse_ready(server),
                    STARTUP_TIMEOUT_S,
                    f"{server.label} (Synapse) ready",
                    alive=proc,
                )
            for proc, server in zip(gateways, [s for s in self.servers if s.gateway]):
                wait_until(
                    lambda: _gateway_ready(server),
                    STARTUP_TIMEOUT_S,
                    f"{server.label} (mxgate) ready",
                    alive=proc,
                )
        except HarnessError:
            self.failed = True
            self.dump_logs()
            raise
        what = f"start {len(self.servers)} servers, {len(gateways)} gateways"
        TIMINGS.append((what, time.monotonic() - started))

    def write_configs(self) -> None:
        """Write every homeserver.yaml and mxgate.toml (start() does it; tests may call it alone)."""
        for server in self.servers:
            if server.role == "gateway":
                server.gateway = write_gateway_config(self, server)
            write_synapse_config(self, server)

    def stop(self) -> None:
        """Stop every process (SIGTERM to its process group, then SIGKILL); idempotent."""
        if self._stopped:
            return
        self._stopped = True
        for proc in reversed(self.processes):
            proc.stop()
        self.processes.clear()
        if not self.failed and not self.keep_dir and self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)
        elif self.dir.exists():
            print(f"e2e: kept {self.dir}", file=sys.stderr)

    def dump_logs(self) -> None:
        """Print the last lines of every process log (for failures)."""
        print(self.log_tails(), file=sys.stderr)

    def log_tails(self) -> str:
        """The last lines of every process log, the audit logs included."""
        parts = [f"federation directory: {self.dir}"]
        parts += [proc.tail() for proc in self.processes]
        for server in self.servers:
            if server.gateway and server.gateway.audit_log.exists():
                parts.append(log_tail(server.gateway.audit_log, f"{server.label} mxgate audit"))
        return "\n".join(parts)

    def _spawn_synapse(self, server: Homeserver) -> "Process":
        config = str(server.dir / "homeserver.yaml")
        argv = [sys.executable, "-m", "synapse.app.homeserver", "--config-path", config]
        logs = [server.dir / "stdout.log", server.log_path]
        proc = Process(f"{server.label} synapse", argv, server.dir, logs)
        self.processes.append(proc)
        return proc

    def _spawn_gateway(self, server: Homeserver) -> "Process":
        assert server.gateway is not None
        argv = [str(mxgate_binary()), "serve", "--config", str(server.gateway.config_path)]
        log = server.gateway.dir / "mxgate.log"
        logs = [log, server.gateway.audit_log]
        proc = Process(f"{server.label} mxgate", argv, server.gateway.dir, logs, stdout=log)
        self.processes.append(proc)
        return proc


def _registration_mac(secret: str, nonce: str, user: str, password: str, admin: bool) -> str:
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha1)
    mac.update(b"\x00".join(p.encode() for p in (nonce, user, password, "admin" if admin else "notadmin")))
    return mac.hexdigest()



def _synapse_ready(server: Homeserver) -> bool:
    if httpx.get(f"{server.client_url}/health", timeout=2).status_code != 200:
        return False
    with socket.create_connection((LOOPBACK, server.synapse_fed_port), timeout=2):
        return True


def _gateway_ready(server: Homeserver) -> bool:
    assert server.gateway is not None
    with socket.create_connection((LOOPBACK, server.port), timeout=2):
        pass
    return httpx.get(f"{server.gateway.admin_url}/healthz", timeout=2).status_code == 200
