"""mxgate's trust rules as a Synapse module.

Load it in ``homeserver.yaml``::

    modules:
      - module: mxgate_synapse.TrustModule
        config:
          mxgate_config: /etc/mxgate/mxgate.toml   # the gateway's own file
          audit_log: /var/log/mxgate/module-audit.jsonl   # optional; else the "mxgate.audit" logger only

Every decision comes from mxgate-core (``mxgate_synapse._core.Policy``); this module only
gathers the room state Synapse has, remembers display names, and answers Synapse in the
shape each callback expects. Which callback enforces which rule is in docs/trust-model.md.

Scope. Local actions (our users' invites, joins and state changes; events built here) are
checked in every room. The rules on *federated* membership, power-level and join-rule events
(``check_event_for_spam``) apply only to rooms of our federation, those whose
``m.room.create`` sender is an internal user: a room created elsewhere follows its own
server's rules, and its own members' events are not soft-failed here; nor are the events of
a room we are not in yet (an invite's, a ``send_join`` answer's: no state to judge by). While a room is
partial-state (Synapse's faster join: our server is still fetching the full state), those
federated checks are skipped and audited (``skipped``, reason ``partial state``): waiting
for the full state from inside the check would wait for the resync, which waits for the
check (a deadlock).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Mapping

from synapse.module_api import NOT_SPAM, ModuleApi
from synapse.module_api.errors import Codes, ConfigError, SynapseError
from synapse.util.frozenutils import unfreeze

from . import _metrics
from ._core import RULES, Policy
from ._state import CREATE, JOIN_RULES, MEMBER, POWER_LEVELS, members_of, plain_state, profile_of
from ._web import PREFIX, TrustResource

__all__ = ["Policy", "RULES", "TrustModule"]

logger = logging.getLogger(__name__)
audit_logger = logging.getLogger("mxgate.audit")

#: Extra key of refusal bodies naming the rule (``M_FORBIDDEN`` + ``error`` + this).
RULE_FIELD = "org.mxgate.rule"

Refusal = tuple[str, str, str]


class TrustModule:
    """The Synapse module: registers the callbacks, the trust endpoint and the audit log."""

    def __init__(self, config: dict[str, Any], api: ModuleApi):
        self.api = api
        self.policy = Policy.from_path(config["mxgate_config"])
        self.report_only = self.policy.mode == "report"
        self._room_pins: dict[tuple[str, str], dict[str, Any]] = {}
        self._user_pins: dict[str, dict[str, Any]] = {}
        self._levels: dict[str, str] = {}
        self._is_partial_state_room = _partial_state_probe(api)
        if config.get("audit_log"):
            _add_audit_file(config["audit_log"])
        api.register_spam_checker_callbacks(
            user_may_invite=self.user_may_invite,
            federated_user_may_invite=self.federated_user_may_invite,
            user_may_join_room=self.user_may_join_room,
            user_may_send_state_event=self.user_may_send_state_event,
            check_event_for_spam=self.check_event_for_spam,
        )
        api.register_third_party_rules_callbacks(
            check_event_allowed=self.check_event_allowed,
            on_new_event=self.on_new_event,
        )
        api.register_web_resource(PREFIX, TrustResource(self))
        self.audit("module_started", mode=self.policy.mode, config=config["mxgate_config"])

    @staticmethod
    def parse_config(config: Mapping[str, Any]) -> dict[str, Any]:
        """Checks the module config: ``mxgate_config`` (path, required), ``audit_log``."""
        path = config.get("mxgate_config")
        if not isinstance(path, str) or not path:
            raise ConfigError("mxgate_synapse.TrustModule needs `mxgate_config: /path/to/mxgate.toml`")
        audit_log = config.get("audit_log")
        if audit_log is not None and not isinstance(audit_log, str):
            raise ConfigError("mxgate_synapse.TrustModule: `audit_log` must be a path")
        try:
            Policy.from_path(path)
        except (OSError, ValueError) as err:
            raise ConfigError(f"mxgate_synapse.TrustModule: {path}: {err}") from err
        return {"mxgate_config": path, "audit_log": audit_log}

    # -- spam-checker callbacks (local requests, federated invites) ---------------------

    async def user_may_invite(self, inviter: str, invitee: str, room_id: str) -> Any:
        """Rules 1, 3, 5 (and 2 for a pre-set level) for an invite sent by a local user."""
        refusal = await self._check_invite(room_id, inviter, invitee)
        return _spam_answer(refusal)

    async def federated_user_may_invite(self, event: Any) -> Any:
        """The same rules for an invite of one of our users by a remote user (``/invite``)."""
        refusal = await self._check_invite(event.room_id, event.sender, event.state_key)
        return _spam_answer(refusal)

    async def user_may_join_room(self, user_id: str, room_id: str, is_invited: bool) -> Any:
        """Rules 1, 3, 5 for a local user's join (remote joins: ``check_event_allowed``)."""
        state = await self._plain_state(room_id)
        refusal = self._decide(
            "join", lambda: self.policy.check_join(state, user_id), room_id=room_id, user=user_id
        )
        return _spam_answer(refusal)

    async def user_may_send_state_event(
        self, user_id: str, room_id: str, event_type: str, state_key: str, content: dict
    ) -> Any:
        """Rules 2 and 3 for a state event sent by a local non-admin user
        (``check_event_allowed`` covers admins and events built elsewhere).

        Synapse 1.163 accepts only a bare ``Codes`` from this callback (an extra dict is
        refused as an invalid value), which would lose the rule's message; a raised
        ``SynapseError`` reaches the client as is, so refusals are raised."""
        if state_key != "" or event_type not in (POWER_LEVELS, JOIN_RULES):
            return NOT_SPAM
        state = await self._plain_state(room_id)
        refusal = self._check_state_change(state, event_type, content, room_id, user_id)
        if refusal is not None:
            raise _forbidden(refusal)
        return NOT_SPAM

    async def check_event_for_spam(self, event: Any) -> Any:
        """Remote events arriving by federation (``/send``, ``send_join``): a refusal
        soft-fails them (stored, not applied, not shown). Used for remote display-name and
        avatar changes (rule 4), remote joins and invites, and remote power-level and
        join-rule changes, in the rooms of our federation whose full state we have (see Scope)."""
        if not getattr(event, "is_state", lambda: False)() or self.api.is_mine(event.sender):
            return NOT_SPAM
        if event.type not in (MEMBER, POWER_LEVELS, JOIN_RULES):
            return NOT_SPAM
        if not await self._federated_rules_apply(event):
            return NOT_SPAM
        state = await self.api.get_room_state(event.room_id)
        refusal = self._check_event(event, state, remote=True)
        return _spam_answer(refusal)

    # -- third-party rules (events built by this server, make_join included) -----------

    async def check_event_allowed(self, event: Any, state: Mapping[tuple[str, str], Any]) -> tuple[bool, None]:
        """Every event built here, including the join our server builds for a remote
        user's ``make_join``: membership (rules 1, 3, 4, 5), power levels (2), join rules (3)."""
        if event.type not in (MEMBER, POWER_LEVELS, JOIN_RULES) or not event.is_state():
            return True, None
        refusal = self._check_event(event, state, remote=False)
        if refusal is not None:
            raise _forbidden(refusal)
        return True, None

    async def on_new_event(self, event: Any, state: Mapping[tuple[str, str], Any]) -> None:
        """Track each room's trust level; audit and count changes."""
        if event.type == MEMBER:
            self._record_level(event.room_id, state)

    # -- trust endpoint ----------------------------------------------------------------

    async def room_trust_for(self, room_id: str, user_id: str) -> dict[str, Any]:
        """The trust JSON of a room for one of its joined members."""
        state = await self.api.get_room_state(room_id, [(MEMBER, None), ("m.room.create", "")])
        if not state:
            raise SynapseError(404, "Unknown room", Codes.NOT_FOUND)
        if members_of(state).get(user_id) != "join":
            raise SynapseError(403, "You are not a member of this room", Codes.FORBIDDEN)
        return self._record_level(room_id, state)

    # -- decisions ---------------------------------------------------------------------

    def audit(self, what: str, **fields: Any) -> None:
        """One JSON line on the ``mxgate.audit`` logger."""
        audit_logger.info(json.dumps({"event": what, **fields}, sort_keys=True, default=str))

    def _decide(self, action: str, check: Any, **context: Any) -> Refusal | None:
        """Runs a policy check; audits and counts refusals; applies report mode.

        An evaluation error (malformed state) refuses in enforce mode (fail closed)."""
        try:
            refusal = check()
        except ValueError as err:
            logger.exception("mxgate: could not evaluate %s %s", action, context)
            refusal = ("evaluation_error", "M_FORBIDDEN", f"mxgate could not evaluate the trust rules: {err}")
        if refusal is None:
            return None
        rule, _, message = refusal
        outcome = "would_refuse" if self.report_only else "refused"
        self.audit(outcome, action=action, rule=rule, message=message, **context)
        _metrics.count_refusal(rule, outcome)
        return None if self.report_only else refusal

    async def _federated_rules_apply(self, event: Any) -> bool:
        """Whether ``check_event_for_spam`` checks this event (module docstring, Scope).

        Never waits for un-partial-stating: a partial-state room is skipped before any
        state is read, and a create-only state filter never waits anyway
        (``StateFilter.must_await_full_state`` is false for it)."""
        room_id = event.room_id
        context = {"room_id": room_id, "sender": event.sender, "type": event.type, "state_key": event.state_key}
        if await self._is_partial_state_room(room_id):
            self.audit("skipped", reason="partial state", **context)
            return False
        create = (await self.api.get_room_state(room_id, [(CREATE, "")])).get((CREATE, ""))
        if create is None:
            # Not in the room yet (the events of an /invite or a send_join answer): there is
            # no state to judge them by; our users' own joins are checked locally.
            self.audit("skipped", reason="room not joined yet", **context)
            return False
        if not self._is_internal(create.sender):
            self.audit("skipped", reason="room created outside our federation", creator=create.sender, **context)
            return False
        return True

    def _is_internal(self, user: str) -> bool:
        try:
            return self.policy.classify(user) == "internal"
        except ValueError:
            return False

    async def _check_invite(self, room_id: str, inviter: str, invitee: str) -> Refusal | None:
        state = await self._plain_state(room_id)
        return self._decide(
            "invite",
            lambda: self.policy.check_invite(state, inviter, invitee),
            room_id=room_id,
            inviter=inviter,
            invitee=invitee,
        )

    def _check_event(self, event: Any, state: Mapping[tuple[str, str], Any], remote: bool) -> Refusal | None:
        plain = plain_state(state, self.policy.access_rules_event)
        if event.type != MEMBER:
            content = unfreeze(event.content)
            return self._check_state_change(plain, event.type, content, event.room_id, event.sender)
        membership = event.content.get("membership")
        user = event.state_key
        context = {"room_id": event.room_id, "sender": event.sender, "user": user}
        if membership == "invite":
            return self._decide(
                "invite", lambda: self.policy.check_invite(plain, event.sender, user), **context
            )
        if membership not in ("join", "knock"):
            return None
        if plain["members"].get(user) != "join":
            refusal = self._decide("join", lambda: self.policy.check_join(plain, user), **context)
            if refusal is not None or not remote or membership != "join":
                return refusal
        return self._check_profile(event, state, context)

    def _check_state_change(
        self, plain: dict[str, Any], event_type: str, content: Any, room_id: str, sender: str
    ) -> Refusal | None:
        context = {"room_id": room_id, "sender": sender}
        if event_type == POWER_LEVELS:
            new = content if isinstance(content, dict) else {}
            return self._decide(
                "power_levels", lambda: self.policy.check_power_levels_change(plain, new), **context
            )
        rule = content.get("join_rule") if isinstance(content, dict) else None
        if not isinstance(rule, str):
            return None
        return self._decide(
            "join_rules", lambda: self.policy.check_join_rules_change(plain, rule), **context
        )

    def _check_profile(self, event: Any, state: Mapping[tuple[str, str], Any], context: dict) -> Refusal | None:
        """Rule 4: a member event of a non-internal user keeps the pinned profile."""
        user = event.state_key
        if self._is_internal(user):  # a malformed id is not: check_member_profile refuses it
            return None
        new = profile_of(event.content)
        previous = self._previous_profile(event.room_id, user, state)
        refusal = self._decide(
            "profile", lambda: self.policy.check_member_profile(user, previous, new), **context
        )
        if previous is None and event.content.get("membership") == "join":
            self._pin(event.room_id, user, new, source="first_join")
        return refusal

    def _previous_profile(self, room_id: str, user: str, state: Mapping[tuple[str, str], Any]) -> dict | None:
        if self.policy.pin_displayname_across_rooms and user in self._user_pins:
            return self._user_pins[user]
        pinned = self._room_pins.get((room_id, user))
        if pinned is not None:
            return pinned
        current = state.get((MEMBER, user))
        if current is not None and current.content.get("membership") == "join":
            profile = profile_of(current.content)
            self._pin(room_id, user, profile, source="room_state")
            return profile
        return None

    def _pin(self, room_id: str, user: str, profile: dict[str, Any], source: str) -> None:
        self._room_pins[(room_id, user)] = profile
        pinned_for_user = self._user_pins.setdefault(user, profile) is profile
        self.audit(
            "profile_pinned",
            room_id=room_id,
            user=user,
            source=source,
            across_rooms=self.policy.pin_displayname_across_rooms and pinned_for_user,
            **profile,
        )

    def _record_level(self, room_id: str, state: Mapping[tuple[str, str], Any]) -> dict[str, Any]:
        try:
            trust = self.policy.trust_level(members_of(state))
        except ValueError:
            logger.exception("mxgate: could not compute the trust level of %s", room_id)
            raise SynapseError(500, "Could not compute the room's trust level", Codes.UNKNOWN) from None
        previous = self._levels.get(room_id)
        if previous != trust["level"]:
            self._levels[room_id] = trust["level"]
            self.audit("room_trust_level", room_id=room_id, previous=previous, level=trust["level"], servers=trust["servers"])
            _metrics.set_levels(self._levels)
        return trust

    async def _plain_state(self, room_id: str) -> dict[str, Any]:
        state = await self.api.get_room_state(room_id)
        return plain_state(state, self.policy.access_rules_event)


def _partial_state_probe(api: ModuleApi) -> Any:
    """``async (room_id) -> bool``: is our server still fetching this room's full state?

    The module API (Synapse 1.163) has no public way to ask, so this uses the main
    datastore's ``is_partial_state_room`` through the private ``ModuleApi._store``. If a
    later Synapse moves it, every room counts as full-state (the pre-faster-joins
    behaviour) and a warning says so at startup."""
    probe = getattr(getattr(api, "_store", None), "is_partial_state_room", None)
    if callable(probe):
        return probe
    logger.warning(
        "mxgate: this Synapse has no ModuleApi._store.is_partial_state_room; federated "
        "events in rooms being joined (partial state) will wait for the full state"
    )

    async def never_partial(room_id: str) -> bool:
        return False

    return never_partial


def _spam_answer(refusal: Refusal | None) -> Any:
    """NOT_SPAM, or ``(Codes, {"error": message, RULE_FIELD: rule})`` (Synapse merges the
    dict into the error body, so the client sees the rule's message)."""
    if refusal is None:
        return NOT_SPAM
    rule, errcode, message = refusal
    return _codes(errcode), {"error": message, RULE_FIELD: rule}


def _forbidden(refusal: Refusal) -> SynapseError:
    """A refusal as the 403 error a client sees (with the rule in ``RULE_FIELD``)."""
    rule, errcode, message = refusal
    return SynapseError(403, message, _codes(errcode), {RULE_FIELD: rule})


def _codes(errcode: str) -> Codes:
    try:
        return Codes(errcode)
    except ValueError:
        return Codes.FORBIDDEN


def _add_audit_file(path: str) -> None:
    """Also write audit lines, bare, to ``path`` (once per process and path)."""
    for handler in audit_logger.handlers:
        if getattr(handler, "baseFilename", None) == path:
            return
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(message)s"))
    audit_logger.addHandler(handler)
    audit_logger.setLevel(logging.INFO)
