"""Baseline: three direct Synapse homeservers federate on loopback (no gateway).

This proves the harness itself: certificates from the local CA, IP-literal server names,
key fetches, invites, remote joins and messages in both directions.
"""

from __future__ import annotations

import pytest

from conftest import watched
from harness import Federation


@pytest.fixture(scope="module")
def fed(request: pytest.FixtureRequest):
    with watched(request, Federation()) as federation:
        for label in ("hs1", "hs2", "hs3"):
            federation.add_server(label)
        federation.start()
        yield federation


def test_invite_join_and_messages_both_ways(fed: Federation):
    hs1, hs2, _ = fed.servers
    alice = hs2.register("alice")
    bob = hs1.register("bob")

    room = alice.create_room(preset="private_chat", name="baseline")
    alice.invite(room, bob.user_id)
    invite_state = bob.wait_for_invite(room)
    assert any(e["type"] == "m.room.create" or e["type"] == "m.room.name" for e in invite_state)

    assert bob.join(room, via=hs2.server_name) == room
    alice.wait_for_membership(room, bob.user_id, "join")

    alice.send_message(room, "hello from hs2")
    bob.wait_for_message(room, "hello from hs2")
    bob.send_message(room, "hello from hs1")
    event = alice.wait_for_message(room, "hello from hs1")
    assert event["sender"] == bob.user_id


def test_third_server_joins_and_state_is_shared(fed: Federation):
    hs1, hs2, hs3 = fed.servers
    carol = hs3.register("carol")
    dave = hs1.register("dave")

    room = carol.create_room(preset="private_chat", initial_state=[
        {"type": "m.room.topic", "state_key": "", "content": {"topic": "three servers"}},
    ])
    carol.invite(room, dave.user_id)
    dave.wait_for_invite(room)
    dave.join(room, via=hs3.server_name)
    carol.wait_for_membership(room, dave.user_id, "join")

    carol.set_power_levels(room, {dave.user_id: 50})
    dave.set_displayname("Dave of hs1")
    carol.send_message(room, "state check")
    dave.wait_for_message(room, "state check")

    assert dave.get_state(room, "m.room.topic")["topic"] == "three servers"
    assert dave.get_state(room, "m.room.power_levels")["users"][dave.user_id] == 50
    assert dave.get_membership(room, dave.user_id) == "join"
