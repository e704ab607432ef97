"""The trust module (mxgate_synapse.TrustModule) in a real Synapse.

Four direct Synapses federate on loopback (no gateway: the module reads an mxgate.toml
listing them, as it would read the gateway's):

- ``int``: our homeserver, with the module loaded (``[[homeserver]]``);
- ``ext``: a trusted external, ``tier = "external"`` (no rights);
- ``la``: a trusted external, ``tier = "local_authority"`` (``may_moderate``,
  ``may_join_public_rooms``);
- ``unk``: a server the config does not list.

Each test shows a rule refusing what it must (403 ``M_FORBIDDEN``, the rule's message and
``org.mxgate.rule``) and allowing what it must. The module is pip-installed into the e2e
venv first (``ensure_module_installed``), only when its sources changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from conftest import watched
from harness import Federation, Homeserver, MatrixError, User, ensure_module_installed, q, wait_until

RULE_FIELD = "org.mxgate.rule"
ACCESS_RULES = "im.vector.room.access_rules"
OPEN = {"type": ACCESS_RULES, "state_key": "", "content": {"rule": "unrestricted"}}


class TrustFederation(Federation):
    """A federation whose ``int`` server loads the trust module."""

    def __init__(self) -> None:
        super().__init__()
        self.module_config: dict[str, Any] | None = None
        self.module_server: Homeserver | None = None
        self.audit_log = self.dir / "trust-audit.jsonl"

    def load_trust_module(self, server: Homeserver, mxgate_toml: Path) -> None:
        """Load TrustModule in ``server`` (written into its homeserver.yaml at start)."""
        self.module_server = server
        self.module_config = {"mxgate_config": str(mxgate_toml), "audit_log": str(self.audit_log)}

    def write_configs(self) -> None:
        super().write_configs()
        if self.module_server is None:
            return
        path = self.module_server.dir / "homeserver.yaml"
        config = yaml.safe_load(path.read_text())
        config["modules"] = [{"module": "mxgate_synapse.TrustModule", "config": self.module_config}]
        path.write_text(yaml.safe_dump(config, sort_keys=False))

    def audit(self) -> list[dict[str, Any]]:
        """The module's audit lines so far."""
        if not self.audit_log.exists():
            return []
        return [json.loads(line) for line in self.audit_log.read_text().splitlines() if line.strip()]

    def wait_for_audit(self, timeout: float = 20.0, **fields: Any) -> dict[str, Any]:
        """The first audit line whose fields include ``fields`` (waits for it)."""
        def found() -> dict[str, Any] | None:
            return next((a for a in self.audit() if all(a.get(k) == v for k, v in fields.items())), None)
        wait_until(lambda: found() is not None, timeout, f"audit line {fields}")
        line = found()
        assert line is not None
        return line


@pytest.fixture(scope="module")
def fed(request: pytest.FixtureRequest):
    ensure_module_installed()
    with watched(request, TrustFederation()) as federation:
        hs_int = federation.add_server("int")
        hs_ext = federation.add_server("ext")
        hs_la = federation.add_server("la")
        federation.add_server("unk")
        toml = _write_mxgate_toml(federation.dir, hs_int, hs_ext, hs_la)
        federation.load_trust_module(hs_int, toml)
        federation.start()
        yield federation


@pytest.fixture(scope="module")
def users(fed: TrustFederation) -> dict[str, User]:
    hs_int, hs_ext, hs_la, hs_unk = fed.servers
    return {
        "alice": hs_int.register("alice"),
        "dave": hs_int.register("dave"),
        "bob": hs_ext.register("bob"),
        "carol": hs_la.register("carol"),
        "mallory": hs_unk.register("mallory"),
    }


def test_module_loaded_in_enforce_mode(fed: TrustFederation):
    started = fed.wait_for_audit(event="module_started")
    assert started["mode"] == "enforce"


def test_invite_external_into_open_room_allowed_into_closed_room_refused(fed: TrustFederation, users):
    alice, bob = users["alice"], users["bob"]
    open_room = alice.create_room(preset="private_chat", initial_state=[OPEN])
    alice.invite(open_room, bob.user_id)
    bob.wait_for_invite(open_room)

    closed_room = alice.create_room(preset="private_chat")
    err = _refused(lambda: alice.invite(closed_room, bob.user_id), "invite_closed_room")
    assert bob.user_id in err.body["error"]
    assert alice.get_membership(closed_room, bob.user_id) is None
    fed.wait_for_audit(event="refused", rule="invite_closed_room", room_id=closed_room)


def test_unknown_server_user_never_invited(fed: TrustFederation, users):
    alice, mallory = users["alice"], users["mallory"]
    room = alice.create_room(preset="private_chat", initial_state=[OPEN])
    _refused(lambda: alice.invite(room, mallory.user_id), "unknown_server")
    assert alice.get_membership(room, mallory.user_id) is None

    # And the other way: the unknown server's user invites ours (federated /invite).
    theirs = mallory.create_room(preset="private_chat")
    with pytest.raises(MatrixError) as refused:
        mallory.invite(theirs, alice.user_id)
    assert refused.value.status == 403
    assert not alice.saw_invite_within(theirs, 1.0)
    fed.wait_for_audit(event="refused", rule="unknown_server", inviter=mallory.user_id)


def test_promote_external_to_moderator_refused_local_authority_allowed(fed: TrustFederation, users):
    hs_int = fed.servers[0]
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    room = alice.create_room(preset="private_chat", initial_state=[OPEN])
    for guest in (bob, carol):
        alice.invite(room, guest.user_id)
        guest.wait_for_invite(room)
        guest.join(room, via=hs_int.server_name)
        alice.wait_for_membership(room, guest.user_id, "join")

    _refused(lambda: alice.set_power_levels(room, {bob.user_id: 50}), "external_moderator")
    assert bob.user_id not in alice.get_state(room, "m.room.power_levels").get("users", {})

    alice.set_power_levels(room, {carol.user_id: 50})
    assert alice.get_state(room, "m.room.power_levels")["users"][carol.user_id] == 50


def test_external_may_not_join_public_room_local_authority_may(fed: TrustFederation, users):
    hs_int = fed.servers[0]
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    room = alice.create_room(preset="public_chat", initial_state=[OPEN])

    # make_join: check_event_allowed refuses; bob's server relays our 403 and message.
    _refused(lambda: bob.join(room, via=hs_int.server_name), "public_room")
    assert alice.get_membership(room, bob.user_id) is None
    fed.wait_for_audit(event="refused", rule="public_room", room_id=room, user=bob.user_id)
    _refused(lambda: alice.invite(room, bob.user_id), "public_room")

    carol.join(room, via=hs_int.server_name)
    alice.wait_for_membership(room, carol.user_id, "join")


def test_room_with_external_member_cannot_be_made_public(fed: TrustFederation, users):
    hs_int = fed.servers[0]
    alice, bob = users["alice"], users["bob"]
    room = alice.create_room(preset="private_chat", initial_state=[OPEN])
    alice.invite(room, bob.user_id)
    bob.wait_for_invite(room)
    bob.join(room, via=hs_int.server_name)
    alice.wait_for_membership(room, bob.user_id, "join")

    _refused(lambda: alice.put_state(room, "m.room.join_rules", {"join_rule": "public"}), "public_room")
    assert alice.get_state(room, "m.room.join_rules")["join_rule"] == "invite"


def test_external_display_name_change_is_soft_failed(fed: TrustFederation, users):
    hs_int = fed.servers[0]
    alice, bob = users["alice"], users["bob"]
    room = alice.create_room(preset="private_chat", initial_state=[OPEN])
    alice.invite(room, bob.user_id)
    bob.wait_for_invite(room)
    bob.join(room, via=hs_int.server_name)
    alice.wait_for_membership(room, bob.user_id, "join")
    first_name = alice.get_state(room, "m.room.member", bob.user_id).get("displayname")

    bob.set_displayname("Robert the Renamed")
    fed.wait_for_audit(event="refused", rule="displayname_change", room_id=room, user=bob.user_id)
    assert alice.get_state(room, "m.room.member", bob.user_id).get("displayname") == first_name
    # Bob's own server applied it (the module can't change that): only ours refuses.
    assert bob.get_state(room, "m.room.member", bob.user_id)["displayname"] == "Robert the Renamed"
    # Bob's next event (built on the soft-failed one) does not bring the name back either.
    bob.send_message(room, "after rename")
    alice.wait_for_message(room, "after rename")
    assert alice.get_state(room, "m.room.member", bob.user_id).get("displayname") == first_name


def test_trust_endpoint_green_then_orange_members_only(fed: TrustFederation, users):
    hs_int = fed.servers[0]
    alice, dave, bob = users["alice"], users["dave"], users["bob"]
    room = alice.create_room(preset="private_chat", initial_state=[OPEN])

    green = _trust(alice, room)
    assert green == {"level": "green", "servers": {"internal": [hs_int.server_name], "external": [], "unknown": []}}

    alice.invite(room, bob.user_id)
    bob.wait_for_invite(room)
    bob.join(room, via=hs_int.server_name)
    alice.wait_for_membership(room, bob.user_id, "join")
    orange = _trust(alice, room)
    assert orange["level"] == "orange"
    assert orange["servers"]["external"] == [bob.user_id.split(":", 1)[1]]
    change = fed.wait_for_audit(event="room_trust_level", room_id=room, level="orange")
    assert change["previous"] == "green"

    with pytest.raises(MatrixError) as not_member:
        _trust(dave, room)
    assert (not_member.value.status, not_member.value.errcode) == (403, "M_FORBIDDEN")
    with pytest.raises(MatrixError) as unknown_room:
        _trust(alice, f"!nosuchroom:{hs_int.server_name}")
    assert (unknown_room.value.status, unknown_room.value.errcode) == (404, "M_NOT_FOUND")
    anonymous = httpx.get(f"{hs_int.client_url}/_synapse/client/mxgate/v1/rooms/{q(room)}/trust", timeout=10)
    assert anonymous.status_code == 401


def test_join_room_created_elsewhere_completes_and_its_members_are_not_soft_failed(
    fed: TrustFederation, users
):
    """alice joins bob's closed room on ``ext``: a partial-state (faster) join whose resync
    must not wait on the module, and a room outside our federation whose own members'
    events our module leaves alone (bob's join would break rule join_closed_room)."""
    hs_ext = fed.servers[1]
    alice, bob = users["alice"], users["bob"]
    room = bob.create_room(preset="private_chat")
    bob.invite(room, alice.user_id)
    alice.wait_for_invite(room)

    join_path = f"/_matrix/client/v3/join/{q(room)}?server_name={q(hs_ext.server_name)}"
    assert alice.call("POST", join_path, {}, timeout=30)["room_id"] == room
    # The trust endpoint reads the full member list: it answers once the resync finished.
    trust = alice.call("GET", f"/_synapse/client/mxgate/v1/rooms/{q(room)}/trust", timeout=30)
    assert trust["level"] == "orange"
    assert trust["servers"]["external"] == [hs_ext.server_name]
    assert alice.get_membership(room, bob.user_id) == "join"
    # bob's join came with the invite and the send_join answer, before we had the room.
    fed.wait_for_audit(event="skipped", reason="room not joined yet", room_id=room, state_key=bob.user_id)

    # Rule 4 would soft-fail this rename in a room of ours; here it is out of scope.
    bob.set_displayname("Bob Elsewhere")
    skipped = fed.wait_for_audit(
        event="skipped", reason="room created outside our federation", room_id=room, state_key=bob.user_id
    )
    assert skipped["creator"] == bob.user_id
    wait_until(
        lambda: alice.get_state(room, "m.room.member", bob.user_id).get("displayname") == "Bob Elsewhere",
        20,
        "bob's rename applied on our side",
    )
    assert not [a for a in fed.audit() if a.get("event") == "refused" and a.get("room_id") == room]


@pytest.fixture(scope="module")
def report_fed(request: pytest.FixtureRequest):
    ensure_module_installed()
    with watched(request, TrustFederation()) as federation:
        hs_int = federation.add_server("int")
        hs_ext = federation.add_server("ext")
        toml = _write_mxgate_toml(federation.dir, hs_int, hs_ext, None, mode="report")
        federation.load_trust_module(hs_int, toml)
        federation.start()
        yield federation


def test_report_mode_logs_what_it_would_refuse_and_refuses_nothing(report_fed: TrustFederation):
    hs_int, hs_ext = report_fed.servers
    alice, bob = hs_int.register("alice"), hs_ext.register("bob")
    assert report_fed.wait_for_audit(event="module_started")["mode"] == "report"

    closed_room = alice.create_room(preset="private_chat")
    alice.invite(closed_room, bob.user_id)
    bob.wait_for_invite(closed_room)
    bob.join(closed_room, via=hs_int.server_name)
    alice.wait_for_membership(closed_room, bob.user_id, "join")
    alice.set_power_levels(closed_room, {bob.user_id: 50})

    would = report_fed.wait_for_audit(event="would_refuse", rule="invite_closed_room", room_id=closed_room)
    assert would["invitee"] == bob.user_id
    report_fed.wait_for_audit(event="would_refuse", rule="external_moderator", room_id=closed_room)
    assert not any(line["event"] == "refused" for line in report_fed.audit())


# ---------------------------------------------------------------------------------------


def _trust(user: User, room_id: str) -> dict[str, Any]:
    return user.call("GET", f"/_synapse/client/mxgate/v1/rooms/{q(room_id)}/trust")


def _refused(action, rule: str) -> MatrixError:
    """Run ``action``; it must fail with 403 M_FORBIDDEN naming ``rule``."""
    with pytest.raises(MatrixError) as refused:
        action()
    err = refused.value
    assert (err.status, err.errcode) == (403, "M_FORBIDDEN"), err
    assert err.body.get(RULE_FIELD) == rule, err
    assert err.body["error"].startswith(f"refused by trust rule {rule}: "), err
    return err


def _write_mxgate_toml(
    dir: Path, hs_int: Homeserver, hs_ext: Homeserver, hs_la: Homeserver | None, mode: str = "enforce"
) -> Path:
    """The module's view: ``hs_int`` ours, ``hs_ext`` external, ``hs_la`` local_authority."""
    la_block = "" if hs_la is None else f"""
[[remote]]
server_name = "{hs_la.server_name}"
tier = "local_authority"
address = "{hs_la.server_name}"
"""
    path = dir / "mxgate.toml"
    path.write_text(
        f"""# Written by e2e/test_trust_module.py: the module's view of the federation.
[gateway]
mode = "{mode}"
state_dir = "state"

[inbound]
listen = "127.0.0.1:1"

[[homeserver]]
server_name = "{hs_int.server_name}"
upstream = "http://127.0.0.1:{hs_int.port}"

[[remote]]
server_name = "{hs_ext.server_name}"
tier = "external"
address = "{hs_ext.server_name}"
{la_block}
[tiers.local_authority]
may_moderate = true
may_join_public_rooms = true
may_change_displayname = false
may_invite_other_externals = false
"""
    )
    return path
