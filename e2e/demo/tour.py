"""The narrated tour: each step says who tries what, does it for real, prints what happened
and why, and compares it with the outcome the step declares."""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from typing import Any, Callable

import httpx

from demo.narrate import Narrator, Outcome
from demo.setup import ACCESS_RULES, DemoFederation
from harness import HarnessError, MatrixError, User, q, wait_until

RULE_FIELD = "org.mxgate.rule"
TRUST_PATH = "/_synapse/client/mxgate/v1/rooms/{}/trust"


@dataclass
class Step:
    """One thing a user tries, with the outcome (and room trust level) it must have."""

    who: str
    tries: str
    expect: str
    action: Callable[[], Outcome]
    why: str
    trust: tuple[Callable[[], str], str] | None = None  # (room id getter, expected level)


def run(once: bool = False, narrator: Narrator | None = None) -> int:
    """Start the federation, run the tour; with ``once`` return 0 iff every step matched,
    else keep running (printing where to look) until Ctrl-C / SIGTERM."""
    say = narrator or Narrator()
    started = float(os.environ.get("MXGATE_DEMO_STARTED", time.time()))
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    fed = DemoFederation()
    try:
        say.heading("starting a private federation on loopback")
        fed.start()
        ready = time.time()
        say.line(f"ready {ready - started:.1f} s after ./scripts/demo started (install, build, start)")
        _describe(fed, say)
        tour = Tour(fed, say)
        matched, total = tour.run()
        say.line()
        say.line(say.paint(f"tour: {matched}/{total} steps as expected", "green" if matched == total else "red"))
        say.line("red (a member from an unknown server) is not shown: the rules above keep unknown "
                 "servers out of every room our servers know, so no room here can become red in enforce "
                 "mode (red is for rooms older than the rules, or report mode)")
        say.line(f"tour took {time.time() - ready:.1f} s; whole run {time.time() - started:.1f} s")
        fed.failed = matched != total
        if once:
            return 0 if matched == total else 1
        _where_to_look(fed, tour, say)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        say.line("\nstopping every process …")
        return 0 if not fed.failed else 1
    except Exception as err:  # noqa: BLE001 - any failure: keep the logs, say where
        fed.failed = True
        say.line(say.paint(f"demo failed: {type(err).__name__}: {err}", "red"))
        fed.dump_logs()
        return 2
    finally:
        fed.stop()


class Tour:
    """The steps, the users and the rooms they make."""

    def __init__(self, fed: DemoFederation, say: Narrator):
        self.fed, self.say = fed, say
        self.alice = fed.hs_a.register("alice")
        self.bob = fed.hs_b.register("bob")
        self.lou = fed.la.register("lou")
        self.erin = fed.ext.register("erin")
        self.mallory = fed.unk.register("mallory")
        self.room = ""

    def run(self) -> tuple[int, int]:
        """Run every step; returns (matched, total)."""
        self.say.heading("the tour")
        steps = self.steps()
        matched = sum(self.run_step(n, step) for n, step in enumerate(steps, 1))
        return matched, len(steps)

    def run_step(self, number: int, step: Step) -> bool:
        """Run one step and print it; True if it matched its declared outcome."""
        self.say.step(number, step.who, step.tries)
        try:
            outcome = step.action()
        except (HarnessError, MatrixError, httpx.HTTPError) as err:
            outcome = Outcome("failed", detail=f"{type(err).__name__}: {str(err)[:300]}")
        self.say.outcome(outcome)
        self.say.why(step.why)
        ok, got = outcome.label == step.expect, outcome.label
        if step.trust is not None:
            room_of, level = step.trust
            trust = self.trust(self.alice, room_of())
            self.say.trust(trust)
            ok = ok and trust.get("level") == level
            got += f", trust {trust.get('level')}"
        expected = step.expect + (f", trust {step.trust[1]}" if step.trust else "")
        self.say.verdict(ok, expected, got)
        return ok

    def trust(self, user: User, room_id: str) -> dict[str, Any]:
        """The module's trust endpoint for ``room_id`` as ``user`` sees it."""
        try:
            return user.call("GET", TRUST_PATH.format(q(room_id)), timeout=60)
        except MatrixError as err:
            return {"level": f"error {err.status} {err.errcode}", "servers": {}}
        except httpx.HTTPError as err:
            return {"level": f"error {type(err).__name__}", "servers": {}}

    def steps(self) -> list[Step]:
        """The tour, in order."""
        fed = self.fed
        room = lambda: self.room  # noqa: E731
        return [
            Step("alice@hs-a", "create a room (no access rule: closed to outside users)", "allowed",
                 self.create_room, "anyone may create a room; only hs-a is in it", (room, "green")),
            Step("alice@hs-a", "invite bob@hs-b, a user of our other homeserver", "allowed",
                 lambda: self.invite(self.bob),
                 "hs-b is a [[homeserver]] of the gateway: internal, every right"),
            Step("bob@hs-b", "join alice's room", "allowed", lambda: self.join(self.bob, self.room, fed.hs_a),
                 f"internal traffic ({self.internal_path()}); hs-b is internal, so the room stays green",
                 (room, "green")),
            Step("alice@hs-a", "invite erin@ext (tier external) into this closed room",
                 "refused: invite_closed_room", lambda: self.invite(self.erin),
                 "rule 1: external users only in rooms whose access rule is open (unrestricted)"),
            Step("alice@hs-a", f"open the room to trusted outsiders ({ACCESS_RULES} = unrestricted)",
                 "allowed", self.open_room, "room creators and admins may open a room"),
            Step("alice@hs-a", "invite erin@ext again, now that the room is open", "allowed",
                 lambda: self.invite(self.erin), "rule 1 is satisfied: the room is open to externals"),
            Step("erin@ext", "join alice's room", "allowed", lambda: self.join(self.erin, self.room, fed.hs_a),
                 "ext is a trusted [[remote]]: the gateway verifies its signatures and forwards; "
                 "a trusted external member turns the room orange", (room, "orange")),
            Step("erin@ext", "change her display name to 'Erin the Renamed'", "refused: displayname_change",
                 self.rename_erin,
                 "rule 4: externals keep the name they joined with; her server applies the change, "
                 "ours soft-fail the event (stored, not applied, not shown)"),
            Step("alice@hs-a", "make erin a moderator (power level 50)", "refused: external_moderator",
                 lambda: self.promote(self.erin), "rule 2: tier external has may_moderate = false"),
            Step("alice@hs-a", "invite lou@la (tier local_authority), who joins", "allowed",
                 self.invite_and_join_lou, "la is trusted; the room is open"),
            Step("alice@hs-a", "make lou a moderator (power level 50)", "allowed",
                 lambda: self.promote(self.lou), "rule 2: [tiers.local_authority] has may_moderate = true",
                 (room, "orange")),
            Step("alice@hs-a", "invite mallory@unk (a server the configuration does not list)",
                 "refused: unknown_server", lambda: self.invite(self.mallory),
                 "rule 5: users of unknown servers are never invited (the trust module refuses)"),
            Step("mallory@unk", "invite alice into a room on unk", "refused: gateway:unknown_origin",
                 self.mallory_invites_alice,
                 "unk is not a [[remote]]: mxgate answers 403 at the edge; hs-a never sees the request"),
            Step("erin@ext", "invite mallory@unk into alice's room (her own server lets her)",
                 "refused: unknown_server", self.erin_invites_mallory,
                 "rule 5: ext accepts the invite, but hs-a's module soft-fails the invite event: no "
                 "unknown server gets into our rooms, so the room stays orange, not red", (room, "orange")),
        ]

    # -- actions -------------------------------------------------------------------------

    def create_room(self) -> Outcome:
        self.room = self.alice.create_room(preset="private_chat", name="Project room")
        return Outcome("allowed", detail=f"room {self.room}")

    def invite(self, user: User) -> Outcome:
        outcome = attempt(lambda: self.alice.invite(self.room, user.user_id))
        if outcome.verdict == "allowed":
            user.wait_for_invite(self.room)
            return Outcome("allowed", detail=f"{user.user_id} sees the invite")
        return outcome

    def join(self, user: User, room: str, via: Any) -> Outcome:
        outcome = attempt(lambda: user.join(room, via=via.server_name))
        if outcome.verdict == "allowed":
            self.alice.wait_for_membership(room, user.user_id, "join")
            return Outcome("allowed", detail=f"alice's server has {user.user_id} joined")
        return outcome

    def open_room(self) -> Outcome:
        return attempt(lambda: self.alice.put_state(self.room, ACCESS_RULES, {"rule": "unrestricted"}))

    def promote(self, user: User) -> Outcome:
        outcome = attempt(lambda: self.alice.set_power_levels(self.room, {user.user_id: 50}))
        if outcome.verdict == "allowed":
            level = self.alice.get_state(self.room, "m.room.power_levels")["users"].get(user.user_id)
            return Outcome("allowed", detail=f"{user.user_id} now has power level {level}")
        return outcome

    def invite_and_join_lou(self) -> Outcome:
        outcome = self.invite(self.lou)
        return outcome if outcome.verdict != "allowed" else self.join(self.lou, self.room, self.fed.hs_a)

    def rename_erin(self) -> Outcome:
        before = self.alice.get_state(self.room, "m.room.member", self.erin.user_id).get("displayname")
        self.erin.set_displayname("Erin the Renamed")
        want = {"event": "refused", "rule": "displayname_change", "room_id": self.room, "user": self.erin.user_id}
        audit = lambda: _find(self.fed.module_audit(self.fed.hs_a), want)  # noqa: E731
        renamed = lambda: self.member_name(self.erin) != before  # noqa: E731
        wait_until(lambda: audit() is not None or renamed(), 30, "erin's rename reaches hs-a")
        if renamed():
            return Outcome("allowed", detail=f"alice sees {self.member_name(self.erin)!r}")
        line = audit() or {}
        theirs = self.erin.get_state(self.room, "m.room.member", self.erin.user_id).get("displayname")
        return Outcome("refused", "displayname_change",
                       f"soft-failed on hs-a: alice still sees {before!r}, erin's own server shows "
                       f"{theirs!r}; hs-a's module audit: {line.get('message')!r}")

    def member_name(self, user: User) -> Any:
        return self.alice.get_state(self.room, "m.room.member", user.user_id).get("displayname")

    def mallory_invites_alice(self) -> Outcome:
        theirs = self.mallory.create_room(preset="private_chat", name="mallory's room")
        outcome = attempt(lambda: self.mallory.invite(theirs, self.alice.user_id))
        if outcome.verdict == "allowed":
            return outcome
        gateway = self.fed.gateway
        assert gateway is not None
        origin = self.fed.unk.server_name
        audited = lambda: next((a for a in gateway.audit_lines()  # noqa: E731
                                if a.get("origin") == origin and "/invite/" in a.get("path", "")), None)
        wait_until(lambda: audited() is not None, 10, "the gateway's audit line for unk")
        line = audited() or {}
        invited = self.alice.saw_invite_within(theirs, 1.0)
        detail = (f"mallory's server got {outcome.detail}; mxgate audit: {line.get('status')} "
                  f"{line.get('verdict')} {line.get('reason')} {line.get('method')} {line.get('endpoint')}; "
                  f"alice {'DID' if invited else 'did not'} get the invite")
        return Outcome("refused", f"gateway:{line.get('reason')}", detail)

    def erin_invites_mallory(self) -> Outcome:
        outcome = attempt(lambda: self.erin.invite(self.room, self.mallory.user_id))
        if outcome.verdict != "allowed":
            return Outcome(outcome.verdict, outcome.rule, f"ext itself refused: {outcome.detail}")
        want = {"event": "refused", "rule": "unknown_server", "room_id": self.room, "user": self.mallory.user_id}
        audit = lambda: _find(self.fed.module_audit(self.fed.hs_a), want)  # noqa: E731
        invited = lambda: self.alice.get_membership(self.room, self.mallory.user_id) is not None  # noqa: E731
        wait_until(lambda: audit() is not None or invited(), 30, "erin's invite of mallory reaches hs-a")
        if invited():
            return Outcome("allowed", detail="hs-a applied the invite: mallory is invited")
        line = audit() or {}
        return Outcome("refused", "unknown_server",
                       f"ext accepted it; soft-failed on hs-a (alice sees no membership for mallory); "
                       f"hs-a's module audit: {line.get('message')!r}")

    def internal_path(self) -> str:
        if self.fed.outbound:
            return "hs-b → mxgate [outbound] → hs-a's private listener"
        return "hs-b → mxgate inbound (hs-a's name) → hs-a's private listener"


def attempt(action: Callable[[], Any]) -> Outcome:
    """Run a client call: allowed, or refused by the rule the error names (else its errcode)."""
    try:
        action()
    except MatrixError as err:
        body = err.body if isinstance(err.body, dict) else {"error": str(err.body)}
        rule = body.get(RULE_FIELD) or err.errcode or f"http_{err.status}"
        return Outcome("refused", rule, f"{err.status} {err.errcode} {json.dumps(body.get('error'))}")
    return Outcome("allowed")


def _find(lines: list[dict], fields: dict) -> dict | None:
    return next((a for a in lines if all(a.get(k) == v for k, v in fields.items())), None)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _describe(fed: DemoFederation, say: Narrator) -> None:
    say.heading("the federation")
    gw = fed.gateway
    assert gw is not None
    say.line(f"mxgate  inbound https://{fed.hs_a.server_name} (TLS, by SNI) for hs-a and hs-b; admin {gw.admin_url}")
    if fed.outbound:
        say.line(f"mxgate  outbound ON: hs-a and hs-b send all federation to http://127.0.0.1:{gw.outbound_port}")
    else:
        say.line(f"mxgate  outbound OFF ({fed.outbound_note}); hs-a and hs-b send federation directly")
    rows = [(fed.hs_a, "internal, behind mxgate, trust module"), (fed.hs_b, "internal, behind mxgate, trust module"),
            (fed.la, "trusted [[remote]], tier local_authority"), (fed.ext, "trusted [[remote]], tier external"),
            (fed.unk, "unknown (not in mxgate.toml)")]
    for server, role in rows:
        say.line(f"  {server.label:5} {server.server_name:17} {role:42} client API {server.client_url}")


def _where_to_look(fed: DemoFederation, tour: Tour, say: Narrator) -> None:
    gw = fed.gateway
    assert gw is not None
    say.heading("still running — where to look (Ctrl-C stops everything)")
    say.line(f"gateway metrics   curl {gw.admin_url}/metrics")
    if _answers(f"{gw.admin_url}/status"):
        say.line(f"gateway status    curl {gw.admin_url}/status   (and {gw.admin_url}/ in a browser)")
    say.line(f"gateway audit log {gw.audit_log}")
    say.line(f"gateway config    {gw.config_path}")
    for server in fed.internal:
        say.line(f"module audit log  {fed.module_audit_log(server)}  ({server.label})")
    say.line(f"all logs          {fed.dir}/*/")
    say.line(f"federation through the gateway:  curl --cacert {fed.ca.cert} {fed.hs_a.federation_url}/_matrix/key/v2/server")
    say.line("send requests yourself as alice (client API of hs-a):")
    token, url = tour.alice.access_token, fed.hs_a.client_url
    say.line(f"  curl -H 'Authorization: Bearer {token}' {url}/_matrix/client/v3/joined_rooms")
    say.line(f"  curl -H 'Authorization: Bearer {token}' {url}{TRUST_PATH.format(q(tour.room))}")
    say.line(f"  (erin@ext: token {tour.erin.access_token} on {fed.ext.client_url})")
