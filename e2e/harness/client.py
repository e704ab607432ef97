"""A small Matrix client-server API client (one logged-in user) with a /sync cache."""

from __future__ import annotations

import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

import httpx

from harness.errors import MatrixError
from harness.procs import wait_until

if TYPE_CHECKING:
    from harness.federation import Homeserver


@dataclass
class User:
    """A logged-in client of one homeserver, with a small incremental /sync cache."""

    server: Homeserver
    user_id: str
    access_token: str
    since: str | None = None
    invites: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    timelines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    # -- rooms -------------------------------------------------------------------------

    def create_room(
        self,
        preset: str = "private_chat",
        initial_state: Iterable[dict[str, Any]] = (),
        invite: Iterable[str] = (),
        **extra: Any,
    ) -> str:
        """Create a room; returns its id."""
        body = {"preset": preset, "initial_state": list(initial_state), "invite": list(invite), **extra}
        return self.call("POST", "/_matrix/client/v3/createRoom", body)["room_id"]

    def invite(self, room_id: str, user_id: str) -> None:
        """Invite ``user_id`` (raises :class:`MatrixError` if the server refuses)."""
        self.call("POST", f"/_matrix/client/v3/rooms/{q(room_id)}/invite", {"user_id": user_id})

    def join(self, room_id: str, via: str | Iterable[str] = ()) -> str:
        """Join a room (remote joins go through ``via``); returns the room id."""
        servers = [via] if isinstance(via, str) else list(via)
        query = "&".join(f"server_name={q(s)}" for s in servers)
        path = f"/_matrix/client/v3/join/{q(room_id)}" + (f"?{query}" if query else "")
        return self.call("POST", path, {})["room_id"]

    def leave(self, room_id: str) -> None:
        """Leave (or reject an invite to) a room."""
        self.call("POST", f"/_matrix/client/v3/rooms/{q(room_id)}/leave", {})

    def send_message(self, room_id: str, body: str) -> str:
        """Send an ``m.text`` message; returns its event id."""
        txn = secrets.token_hex(8)
        path = f"/_matrix/client/v3/rooms/{q(room_id)}/send/m.room.message/{txn}"
        return self.call("PUT", path, {"msgtype": "m.text", "body": body})["event_id"]

    def get_state(self, room_id: str, event_type: str, state_key: str = "") -> dict[str, Any]:
        """Content of one state event (raises :class:`MatrixError` 404 when absent)."""
        return self.call("GET", f"/_matrix/client/v3/rooms/{q(room_id)}/state/{q(event_type)}/{q(state_key)}")

    def put_state(self, room_id: str, event_type: str, content: dict[str, Any], state_key: str = "") -> str:
        """Send a state event; returns its event id."""
        path = f"/_matrix/client/v3/rooms/{q(room_id)}/state/{q(event_type)}/{q(state_key)}"
        return self.call("PUT", path, content)["event_id"]

    def set_power_levels(self, room_id: str, users: dict[str, int]) -> str:
        """Merge ``users`` into the room's power levels; returns the event id."""
        levels = self.get_state(room_id, "m.room.power_levels")
        levels.setdefault("users", {}).update(users)
        return self.put_state(room_id, "m.room.power_levels", levels)

    def get_membership(self, room_id: str, user_id: str) -> str | None:
        """``join``/``invite``/``leave``/``ban``, or None if the user never had a membership."""
        try:
            return self.get_state(room_id, "m.room.member", user_id).get("membership")
        except MatrixError as err:
            if err.status == 404:
                return None
            raise

    def set_displayname(self, name: str) -> None:
        """Set the global display name (propagates to the rooms the user is in)."""
        self.call("PUT", f"/_matrix/client/v3/profile/{q(self.user_id)}/displayname", {"displayname": name})

    # -- sync and waiting ----------------------------------------------------------------

    def sync(self, timeout_ms: int = 0) -> dict[str, Any]:
        """One incremental /sync; records invites and timeline events."""
        params = {"timeout": str(timeout_ms)}
        if self.since:
            params["since"] = self.since
        reply = self.call("GET", "/_matrix/client/v3/sync", params=params, timeout=timeout_ms / 1000 + 30)
        self.since = reply["next_batch"]
        rooms = reply.get("rooms", {})
        for room_id, room in rooms.get("invite", {}).items():
            self.invites[room_id] = room.get("invite_state", {}).get("events", [])
        for room_id, room in rooms.get("join", {}).items():
            self.timelines.setdefault(room_id, []).extend(room.get("timeline", {}).get("events", []))
        return reply

    def wait_for_invite(self, room_id: str, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Wait until an invite to ``room_id`` shows up in /sync; returns its stripped state."""
        invited = lambda: self._synced(lambda: room_id in self.invites)  # noqa: E731
        wait_until(invited, timeout, f"{self.user_id} invited to {room_id}")
        return self.invites[room_id]

    def wait_for_message(self, room_id: str, body: str, timeout: float = 20.0) -> dict[str, Any]:
        """Wait until an ``m.room.message`` with this body is in the room's timeline."""
        seen = lambda: self._synced(lambda: self._find_message(room_id, body) is not None)  # noqa: E731
        wait_until(seen, timeout, f"{self.user_id} sees {body!r} in {room_id}")
        found = self._find_message(room_id, body)
        assert found is not None
        return found

    def wait_for_membership(self, room_id: str, user_id: str, membership: str, timeout: float = 20.0) -> None:
        """Wait until this user's server has ``user_id`` in ``membership`` state in the room."""
        wait_until(
            lambda: self.get_membership(room_id, user_id) == membership,
            timeout,
            f"{user_id} {membership} in {room_id}",
        )

    def saw_invite_within(self, room_id: str, seconds: float) -> bool:
        """Sync for ``seconds``; True if an invite to ``room_id`` arrived meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and room_id not in self.invites:
            self.sync(timeout_ms=int(min(1.0, max(0.0, deadline - time.monotonic())) * 1000))
        return room_id in self.invites

    # -- raw calls -----------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Any:
        """A client-server API call; returns the JSON body or raises :class:`MatrixError`."""
        url = f"{self.server.client_url}{path}"
        headers = {"Authorization": f"Bearer {self.access_token}"}
        reply = httpx.request(method, url, json=body, params=params, headers=headers, timeout=timeout)
        return json_or_raise(reply, method, path)

    def _synced(self, check: Callable[[], bool]) -> bool:
        if check():
            return True
        self.sync(timeout_ms=1000)
        return check()

    def _find_message(self, room_id: str, body: str) -> dict[str, Any] | None:
        for event in self.timelines.get(room_id, []):
            if event.get("type") == "m.room.message" and event.get("content", {}).get("body") == body:
                return event
        return None


def q(part: str) -> str:
    """Percent-encode one path segment."""
    return urllib.parse.quote(part, safe="")



def json_or_raise(reply: httpx.Response, method: str, url: str) -> Any:
    """The JSON body of a 2xx reply; raise :class:`MatrixError` otherwise."""
    try:
        body = reply.json()
    except ValueError:
        body = reply.text
    if not 200 <= reply.status_code < 300:
        raise MatrixError(method, url, reply.status_code, body)
    return body

