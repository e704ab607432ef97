"""Outbound gateway with real Synapse: hs1 sends all its federation through mxgate.

- hs1: behind mxgate both ways. Inbound as in test_gateway_inbound.py; outbound through
  Synapse's federation-proxy protocol (``instance_map`` + ``outbound_federation_restricted_to``
  + ``worker_replication_secret`` pointing at mxgate's ``[outbound]`` listener), so hs1's
  Synapse never opens a connection to another homeserver itself.
- hs2: a trusted ``[[remote]]`` (tier ``external``, address pinned, ``ca`` = the harness CA,
  signing key fetched by the gateway).
- hs3: not in the config, so untrusted.

Shown: hs1's user invites hs2's user, who joins; messages flow both ways and mxgate's
metrics count the outbound requests. An invite to hs3 fails for the client, nothing at all
reaches hs3's federation listener, and mxgate's audit log has the refusal and its reason.
Last, hs2 is restarted with a certificate from a second CA (not pinned for hs2): federation
from hs1 to hs2 stops, hs2 sees no request from hs1, and mxgate says why (UnknownIssuer).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import ssl
import time
from typing import Any

import httpx
import pytest

from conftest import watched
from harness import (
    LOOPBACK,
    Federation,
    HarnessError,
    Homeserver,
    LocalCA,
    MatrixError,
    User,
    mxgate_serve_missing,
    wait_until,
)
from harness.procs import STARTUP_TIMEOUT_S

SKIP_REASON = mxgate_serve_missing()
# What `mxgate serve` logs (and exits 1) while the CLI exists but the server does not yet.
SERVE_UNAVAILABLE = "not yet available in this build"
pytestmark = pytest.mark.skipif(SKIP_REASON is not None, reason=str(SKIP_REASON))

# How long a message or invite that must not arrive is waited for.
NEVER_ARRIVES_S = 4.0


class OutboundFederation(Federation):
    """A federation in which a Synapse can be restarted (e.g. with another certificate)."""

    def restart_synapse(self, server: Homeserver) -> None:
        """Stop ``server``'s Synapse, start it again with the same config, wait until ready."""
        name = f"{server.label} synapse"
        old = next(proc for proc in self.processes if proc.name == name)
        old.stop()
        self.processes.remove(old)
        (server.dir / "homeserver.pid").unlink(missing_ok=True)
        proc = self._spawn_synapse(server)
        wait_until(lambda: _synapse_ready(server), STARTUP_TIMEOUT_S, f"{name} restarted", alive=proc)


@pytest.fixture(scope="module")
def fed(request: pytest.FixtureRequest):
    with watched(request, OutboundFederation()) as federation:
        hs1 = federation.add_server("hs1", role="gateway", outbound=True)
        hs2 = federation.add_server("hs2")
        federation.add_server("hs3")
        hs1.trust(hs2, tier="external")
        try:
            federation.start()
        except HarnessError as err:
            if SERVE_UNAVAILABLE not in str(err):
                raise
            federation.failed = False
            pytest.skip(f"`mxgate serve` says: {SERVE_UNAVAILABLE} (gateway not built yet)")
        yield federation


def test_outbound_invite_join_and_messages_go_through_gateway(fed: OutboundFederation):
    hs1, hs2, _ = fed.servers
    gateway = hs1.gateway
    assert gateway is not None and gateway.outbound_port is not None
    invites_before = _outbound_count(gateway, "accepted", "invite")
    sends_before = _outbound_count(gateway, "accepted", "send")

    alice = hs1.register("alice")
    bob = hs2.register("bob")
    room = alice.create_room(preset="private_chat", name="out through the gateway")
    alice.invite(room, bob.user_id)  # hs1 -> mxgate [outbound] -> hs2: PUT /v2/invite
    bob.wait_for_invite(room)
    bob.join(room, via=hs1.server_name)  # hs2 -> mxgate [inbound] -> hs1: make_join/send_join
    alice.wait_for_membership(room, bob.user_id, "join")

    alice.send_message(room, "outbound through mxgate")  # hs1 -> mxgate -> hs2: PUT /send
    assert bob.wait_for_message(room, "outbound through mxgate")["sender"] == alice.user_id
    bob.send_message(room, "inbound through mxgate")
    assert alice.wait_for_message(room, "inbound through mxgate")["sender"] == bob.user_id

    # mxgate's admin listener counted hs1's invite and transaction(s) to hs2 as accepted.
    assert _outbound_count(gateway, "accepted", "invite") >= invites_before + 1, gateway.metrics()
    wait_until(lambda: _outbound_count(gateway, "accepted", "send") >= sends_before + 1, 5,
               "an accepted outbound /send in mxgate's metrics")
    # hs2 received requests signed by hs1 (what mxgate forwarded), and none was refused.
    assert _federation_requests(hs2, origin=hs1), "hs2's Synapse logged no federation request from hs1"
    refused = [line for line in gateway.audit_lines() if line.get("direction") == "outbound"]
    assert not refused, f"mxgate refused some of hs1's legitimate outbound requests: {refused}"
    # Synapse sends canonical JSON: every signed body took the one-pass scan, both ways.
    for direction in ("inbound", "outbound"):
        assert _json_bodies(gateway, direction, "canonical") >= 1, gateway.metrics()
        assert _json_bodies(gateway, direction, "other") == 0, gateway.metrics()


def test_invite_to_untrusted_server_fails_and_nothing_reaches_it(fed: OutboundFederation):
    hs1, _, hs3 = fed.servers
    gateway = hs1.gateway
    assert gateway is not None
    carol = hs1.register("carol")
    mallory = hs3.register("mallory")
    room = carol.create_room(preset="private_chat", name="must stay inside")
    hs3_log_mark = len(hs3.log_text())

    with pytest.raises(MatrixError) as refused:
        carol.invite(room, mallory.user_id)  # hs1 -> mxgate: refused, nothing sent to hs3
    # Synapse relays the gateway's answer (403 M_FORBIDDEN is final: no retries).
    assert refused.value.status == 403, refused.value
    assert refused.value.errcode == "M_FORBIDDEN", refused.value

    assert not mallory.saw_invite_within(room, seconds=2), "hs1's invite reached hs3's user"
    later = hs3.log_text()[hs3_log_mark:]
    reached = [line for line in later.splitlines() if _is_federation_access(line, hs3)]
    assert not reached, f"hs3's federation listener served requests after the invite: {reached}"
    assert hs1.server_name not in later, "hs3's log mentions hs1 after the refused invite"

    line = _wait_for_audit(gateway, destination=hs3.server_name, endpoint="invite")
    assert line["direction"] == "outbound"
    assert line["verdict"] == "rejected"
    assert line["reason"] == "untrusted_destination"
    assert line["status"] == 403
    assert line["method"] == "PUT" and "/_matrix/federation/v2/invite/" in line["path"], line
    assert _outbound_count(gateway, "rejected", "invite", reason="untrusted_destination") >= 1
    # The outbound module docs promise origin and destination on every refusal.
    assert line.get("origin") == hs1.server_name, f"audit line does not name the origin (hs1): {line}"


# Runs last in this module: it leaves hs2 with a certificate mxgate refuses.
def test_unpinned_ca_certificate_stops_federation_to_trusted_server(fed: OutboundFederation):
    hs1, hs2, _ = fed.servers
    gateway = hs1.gateway
    assert gateway is not None
    dave = hs1.register("dave")
    erin = hs2.register("erin")
    frank = hs2.register("frank")
    room = dave.create_room(preset="private_chat", name="before and after the swap")
    dave.invite(room, erin.user_id)
    erin.wait_for_invite(room)
    erin.join(room, via=hs1.server_name)
    dave.wait_for_membership(room, erin.user_id, "join")
    dave.send_message(room, "before the swap")  # control: federation to hs2 works now
    erin.wait_for_message(room, "before the swap")

    # mxgate pins the harness CA for hs2; hs2 now presents a certificate from another CA.
    assert f"ca = {json.dumps(str(fed.ca.cert))}" in gateway.config_path.read_text()
    rogue = LocalCA(fed.dir / "rogue-ca", name="rogue CA (not pinned)")
    rogue_cert, rogue_key = rogue.issue(rogue.dir, "hs2-rogue")
    shutil.copyfile(rogue_cert, hs2.cert)
    shutil.copyfile(rogue_key, hs2.key)
    fed.restart_synapse(hs2)
    assert _key_endpoint_status(hs2, rogue.cert) == 200  # hs2 is up, with the rogue certificate
    hs2_log_mark = len(hs2.log_text())

    with pytest.raises(MatrixError) as failed:
        dave.invite(room, frank.user_id)  # mxgate refuses the TLS handshake with hs2
    assert failed.value.status >= 500, failed.value
    dave.send_message(room, "after the swap")
    assert not _saw_message_within(erin, room, "after the swap", NEVER_ARRIVES_S), \
        "a message reached hs2 through a certificate from an unpinned CA"
    assert not frank.saw_invite_within(room, seconds=1), "an invite reached hs2 through an unpinned CA"
    from_hs1 = _federation_requests(hs2, origin=hs1, since=hs2_log_mark)
    assert not from_hs1, f"hs2 served requests from hs1 despite the unpinned CA: {from_hs1}"

    line = _wait_for_audit(gateway, destination=hs2.server_name, reason="tls_handshake")
    assert line["direction"] == "outbound" and line["status"] == 502, line
    mxgate_log = (gateway.dir / "mxgate.log").read_text(errors="replace")
    tls_lines = [entry for entry in mxgate_log.splitlines()
                 if hs2.server_name in entry and "UnknownIssuer" in entry]
    assert tls_lines, "mxgate's log does not say the certificate's issuer is unknown"


# ---------------------------------------------------------------------------------------


def _synapse_ready(server: Homeserver) -> bool:
    if httpx.get(f"{server.client_url}/health", timeout=2).status_code != 200:
        return False
    with socket.create_connection((LOOPBACK, server.synapse_fed_port), timeout=2):
        return True


def _json_bodies(gateway, direction: str, form: str) -> float:
    """``mxgate_json_bodies_total`` for this direction and form (0 when absent)."""
    sample = f'mxgate_json_bodies_total{{direction="{direction}",form="{form}"}} '
    for line in gateway.metrics().splitlines():
        if line.startswith(sample):
            return float(line[len(sample):])
    return 0.0


def _outbound_count(gateway, verdict: str, endpoint: str, reason: str | None = None) -> float:
    """Sum of ``mxgate_requests_total`` samples for outbound requests with these labels."""
    wanted = {"direction": "outbound", "verdict": verdict, "endpoint": endpoint}
    if reason is not None:
        wanted["reason"] = reason
    total = 0.0
    for line in gateway.metrics().splitlines():
        match = re.fullmatch(r"mxgate_requests_total\{(.*)\} (\S+)", line.strip())
        if match is None:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if all(labels.get(k) == v for k, v in wanted.items()):
            total += float(match.group(2))
    return total


def _wait_for_audit(gateway, **fields: Any) -> dict[str, Any]:
    """The first audit line whose fields include ``fields`` (waits up to 10 s)."""
    def found() -> dict[str, Any] | None:
        return next((a for a in gateway.audit_lines() if all(a.get(k) == v for k, v in fields.items())), None)
    wait_until(lambda: found() is not None, 10, f"mxgate audit line {fields}")
    line = found()
    assert line is not None
    return line


def _is_federation_access(line: str, server: Homeserver) -> bool:
    """True for an access-log line of ``server``'s own federation listener."""
    return f"synapse.access.https.{server.synapse_fed_port} " in line or (
        f"synapse.access.http.{server.synapse_fed_port} " in line
    )


def _federation_requests(server: Homeserver, origin: Homeserver, since: int = 0) -> list[str]:
    """Access-log lines of ``server``'s federation listener for requests signed by ``origin``."""
    needle = "{" + origin.server_name + "}"
    lines = server.log_text()[since:].splitlines()
    return [line for line in lines if _is_federation_access(line, server) and needle in line]


def _key_endpoint_status(server: Homeserver, ca_cert) -> int:
    """Status of ``server``'s key endpoint over TLS verified with ``ca_cert``."""
    tls = ssl.create_default_context(cafile=str(ca_cert))
    return httpx.get(f"{server.federation_url}/_matrix/key/v2/server", verify=tls, timeout=10).status_code


def _saw_message_within(user: User, room: str, body: str, seconds: float) -> bool:
    """Sync for ``seconds``; True if a message with ``body`` showed up in the room meanwhile."""
    deadline = time.monotonic() + seconds
    while True:
        events = user.timelines.get(room, [])
        if any(e.get("type") == "m.room.message" and e.get("content", {}).get("body") == body
               for e in events):
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        user.sync(timeout_ms=int(min(1.0, left) * 1000))
