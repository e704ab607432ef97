"""The demo federation: two internal homeservers behind one mxgate, three outside servers.

Built on ``e2e/harness``: :class:`DemoFederation` subclasses ``Federation`` and only replaces
what differs from the tests' one-gateway-per-server layout (one shared ``mxgate.toml`` with
two ``[[homeserver]]`` entries, the trust module in both internal servers, ``[outbound]``
only when this build of mxgate serves it).
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import time
from pathlib import Path

import httpx
import yaml

from harness import LOOPBACK, Federation, Gateway, HarnessError, Homeserver, free_port, mxgate_binary, wait_until
from harness.configs import write_synapse_config
from harness import ensure_module_installed

STARTUP_TIMEOUT_S = 90.0
ACCESS_RULES = "im.vector.room.access_rules"


class DemoFederation(Federation):
    """hs-a and hs-b behind one mxgate (inbound, outbound if available, module in both);
    la (local_authority), ext (external) and unk (unknown) outside."""

    def __init__(self) -> None:
        super().__init__()
        self.hs_a = self.add_server("hs-a", role="gateway")
        self.hs_b = self.add_server("hs-b", role="gateway")
        self.la = self.add_server("la")
        self.ext = self.add_server("ext")
        self.unk = self.add_server("unk")
        # hs-b's name points at the same gateway port as hs-a's: "localhost" resolves to
        # 127.0.0.1 through /etc/hosts, so both names reach the one mxgate listener.
        self.hs_b.port = self.hs_a.port
        self.hs_b.server_name = f"localhost:{self.hs_a.port}"
        self.hs_b.cert, self.hs_b.key = _issue_dns_cert(self, self.hs_b.dir, "localhost")
        self.gateway_dir = self.dir / "mxgate"
        self.gateway: Gateway | None = None
        self.outbound = False
        self.outbound_note = ""

    @property
    def internal(self) -> list[Homeserver]:
        """The servers behind the gateway."""
        return [self.hs_a, self.hs_b]

    def module_audit_log(self, server: Homeserver) -> Path:
        """The trust module's audit log (JSON lines) of an internal server."""
        return server.dir / "trust-audit.jsonl"

    def module_audit(self, server: Homeserver) -> list[dict]:
        """The trust module's audit lines so far."""
        path = self.module_audit_log(server)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def start(self) -> None:
        """Start the gateway (finding out whether it serves [outbound]), then every Synapse."""
        ensure_module_installed()
        self.gateway_dir.mkdir()
        (self.gateway_dir / "state").mkdir()
        self.outbound = self._start_gateway(with_outbound=True)
        if not self.outbound:
            self._stop_gateway()
            self._start_gateway(with_outbound=False)
        for server in self.internal:
            server.gateway = self.gateway
            server.outbound = self.outbound
        for server in self.servers:
            write_synapse_config(self, server)
        for server in self.internal:
            self._load_module(server)
        synapses = [(s, self._spawn_synapse(s)) for s in self.servers]
        try:
            for server, proc in synapses:
                wait_until(lambda: _synapse_ready(server), STARTUP_TIMEOUT_S, f"{server.label} ready", alive=proc)
        except HarnessError:
            self.failed = True
            raise

    # -- the gateway -----------------------------------------------------------------------

    def _start_gateway(self, with_outbound: bool) -> bool:
        """Write mxgate.toml, check it, run mxgate; True when [outbound] is configured and served."""
        self.gateway = self._write_gateway_config(with_outbound)
        check = subprocess.run(
            [str(mxgate_binary()), "check-config", "--config", str(self.gateway.config_path)],
            capture_output=True, text=True, timeout=30,
        )
        if check.returncode != 0:
            if with_outbound:
                self.outbound_note = "mxgate check-config refused [outbound]: " + check.stdout.strip()[:200]
                return False
            raise HarnessError(f"mxgate check-config failed:\n{check.stdout}{check.stderr}")
        self.hs_a.gateway = self.gateway
        proc = self._spawn_gateway(self.hs_a)
        wait_until(self._gateway_ready, STARTUP_TIMEOUT_S, "mxgate ready", alive=proc)
        if not with_outbound:
            return False
        if _outbound_answers(self.gateway):
            return True
        self.outbound_note = "this build of mxgate accepts [outbound] but does not serve it yet"
        return False

    def _stop_gateway(self) -> None:
        for proc in [p for p in self.processes if p.name.endswith("mxgate")]:
            proc.stop()
            self.processes.remove(proc)

    def _write_gateway_config(self, with_outbound: bool) -> Gateway:
        gw_dir = self.gateway_dir
        gateway = Gateway(
            dir=gw_dir,
            config_path=gw_dir / "mxgate.toml",
            audit_log=gw_dir / "audit.jsonl",
            admin_port=self.gateway.admin_port if self.gateway else free_port(),
            outbound_port=(self.gateway.outbound_port if self.gateway else None) or free_port(),
            outbound_secret=(self.gateway.outbound_secret if self.gateway else None) or _secret(),
        )
        if not with_outbound:
            gateway.outbound_port = gateway.outbound_secret = None
        (gw_dir / "outbound.secret").write_text(f"{gateway.outbound_secret or ''}\n")
        gateway.config_path.write_text(_gateway_toml(self, gateway))
        return gateway

    def _gateway_ready(self) -> bool:
        assert self.gateway is not None
        with socket.create_connection((LOOPBACK, self.hs_a.port), timeout=2):
            pass
        return httpx.get(f"{self.gateway.admin_url}/healthz", timeout=2).status_code == 200

    def _load_module(self, server: Homeserver) -> None:
        assert self.gateway is not None
        path = server.dir / "homeserver.yaml"
        config = yaml.safe_load(path.read_text())
        module_config = {
            "mxgate_config": str(self.gateway.config_path),
            "audit_log": str(self.module_audit_log(server)),
        }
        config["modules"] = [{"module": "mxgate_synapse.TrustModule", "config": module_config}]
        path.write_text(yaml.safe_dump(config, sort_keys=False))


def _gateway_toml(fed: DemoFederation, gateway: Gateway) -> str:
    def path(p: Path) -> str:
        return json.dumps(str(p))

    lines = [
        "# The demo's gateway: ONE mxgate in front of hs-a and hs-b (written by e2e/demo/setup.py).",
        "[gateway]", 'mode = "enforce"', f"state_dir = {path(gateway.dir / 'state')}",
        f"audit_log = {path(gateway.audit_log)}", "",
        "[inbound]", f'listen = "{LOOPBACK}:{fed.hs_a.port}"',
        "# First pair: the default when there is no SNI (hs-a's IP-literal name).",
        "[[inbound.tls]]", f"cert = {path(fed.hs_a.cert)}", f"key = {path(fed.hs_a.key)}",
        "[[inbound.tls]]", f"cert = {path(fed.hs_b.cert)}", f"key = {path(fed.hs_b.key)}", "",
        "[admin]", f'listen = "{LOOPBACK}:{gateway.admin_port}"', "",
    ]
    if gateway.outbound_port is not None:
        lines += ["[outbound]", f'listen = "{LOOPBACK}:{gateway.outbound_port}"',
                  'secret_file = "outbound.secret"', f"ca = {path(fed.ca.cert)}", ""]
    for server in fed.internal:
        lines += ["[[homeserver]]", f'server_name = "{server.server_name}"',
                  f'upstream = "http://{LOOPBACK}:{server.synapse_fed_port}"',
                  f'keys = {{ "{server.key_id}" = "{server.verify_key_base64}" }}', ""]
    for server, tier in ((fed.la, "local_authority"), (fed.ext, "external")):
        lines += ["[[remote]]", f'server_name = "{server.server_name}"', f'tier = "{tier}"',
                  f'address = "{server.server_name}"', f"ca = {path(fed.ca.cert)}",
                  f'keys = {{ "{server.key_id}" = "{server.verify_key_base64}" }}', ""]
    lines += ["[tiers.local_authority]", "may_moderate = true", "may_join_public_rooms = true", ""]
    return "\n".join(lines)


def _outbound_answers(gateway: Gateway) -> bool:
    """True when the [outbound] port speaks HTTP (an unauthenticated probe gets a 4xx)."""
    assert gateway.outbound_port is not None
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((LOOPBACK, gateway.outbound_port), timeout=2) as conn:
                conn.sendall(b"GET matrix-federation://probe/_matrix/key/v2/server HTTP/1.1\r\n"
                             b"Host: probe\r\nConnection: close\r\n\r\n")
                return conn.recv(16).startswith(b"HTTP/1.1 4")
        except OSError:
            time.sleep(0.2)
    return False


def _issue_dns_cert(fed: Federation, dir: Path, name: str) -> tuple[Path, Path]:
    """A leaf certificate for a DNS name from the federation's CA (the harness issues IP SANs)."""
    key, csr, cert, ext = (dir / f"{name}.{s}" for s in ("key", "csr", "crt", "ext"))
    ext.write_text(f"subjectAltName=DNS:{name}\nbasicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n")
    for args in (
        ["req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-keyout", key, "-out", csr, "-subj", f"/CN={name}"],
        ["x509", "-req", "-in", csr, "-CA", fed.ca.cert, "-CAkey", fed.ca.key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext],
    ):
        out = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)
        if out.returncode != 0:
            raise HarnessError(f"openssl {args[0]} failed: {out.stderr}")
    return cert, key


def _synapse_ready(server: Homeserver) -> bool:
    if httpx.get(f"{server.client_url}/health", timeout=2).status_code != 200:
        return False
    with socket.create_connection((LOOPBACK, server.synapse_fed_port), timeout=2):
        return True


def _secret() -> str:
    return secrets.token_hex(16)
