"""Synapse room state (a StateMap of events) to the plain data the policy takes."""

from __future__ import annotations

from typing import Any, Mapping

from synapse.util.frozenutils import unfreeze

MEMBER = "m.room.member"
POWER_LEVELS = "m.room.power_levels"
JOIN_RULES = "m.room.join_rules"
CREATE = "m.room.create"

MEMBERSHIPS = ("join", "invite", "leave", "ban", "knock")


def plain_state(state: Mapping[tuple[str, str], Any], access_rules_event: str) -> dict[str, Any]:
    """The policy's room state from Synapse state events keyed by (type, state_key).

    ``{"join_rule", "access_rule", "members": {user: membership}, "power_levels", "creators"}``;
    values of the wrong type are treated as absent (the rules then take the safe default:
    closed room, invite-only).
    """
    plain: dict[str, Any] = {
        "join_rule": None,
        "access_rule": None,
        "members": {},
        "power_levels": None,
        "creators": [],
    }
    for (event_type, state_key), event in state.items():
        content = event.content
        if event_type == MEMBER:
            membership = content.get("membership")
            if membership in MEMBERSHIPS:
                plain["members"][state_key] = membership
        elif state_key != "":
            continue
        elif event_type == JOIN_RULES:
            plain["join_rule"] = _str_or_none(content.get("join_rule"))
        elif event_type == access_rules_event:
            plain["access_rule"] = _str_or_none(content.get("rule"))
        elif event_type == POWER_LEVELS:
            plain["power_levels"] = unfreeze(content)
        elif event_type == CREATE:
            plain["creators"] = _creators(event)
    return plain


def profile_of(content: Mapping[str, Any]) -> dict[str, Any]:
    """``{"displayname", "avatar_url"}`` of an ``m.room.member`` content (non-strings: absent)."""
    return {
        "displayname": _str_or_none(content.get("displayname")),
        "avatar_url": _str_or_none(content.get("avatar_url")),
    }


def members_of(state: Mapping[tuple[str, str], Any]) -> dict[str, str]:
    """``{user_id: membership}`` of every member event in ``state``."""
    return {
        key: event.content.get("membership")
        for (event_type, key), event in state.items()
        if event_type == MEMBER and event.content.get("membership") in MEMBERSHIPS
    }


def _creators(event: Any) -> list[str]:
    """Room creators: the sender, plus ``content.creator`` (room versions 1-10)."""
    creators = [event.sender]
    creator = event.content.get("creator")
    if isinstance(creator, str) and creator not in creators:
        creators.append(creator)
    return creators


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
