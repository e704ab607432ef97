//! Edge checks on the membership event carried by invite and
//! send_join/send_leave/send_knock requests (the stateless part of the trust
//! rules, see `docs/trust-model.md`).
//!
//! - `PUT /_matrix/federation/v2/invite/{roomId}/{eventId}` (body
//!   `{room_version, event, invite_room_state}`) and the legacy v1 (body =
//!   the event, room version 1): the event must be an `m.room.member` invite
//!   sent by a user of the X-Matrix origin to a user of the destination, for
//!   the room and event id of the path, with a valid content hash and the
//!   origin's signature
//!   (<https://spec.matrix.org/v1.16/server-server-api/#put_matrixfederationv2inviteroomideventid>).
//! - `send_join`/`send_leave`/`send_knock`: the event's `sender` and
//!   `state_key` are users of the origin, with the matching membership.
//!
//! The event checks are pure; [`check`] only gathers the origin's keys.

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;
use mxgate_core::{
    endpoints::{Endpoint, EndpointKind, Param, percent_decode_segment},
    event::{self, EventError, RoomVersion},
    ids::{KeyId, ServerName, UserId},
    json::{CanonicalJsonObject, CanonicalJsonValue},
};

use super::state::State;
use crate::errors::Denied;

/// At most this many of the origin's signatures are looked up (each unknown
/// key id may trigger a rate-limited key refetch).
const MAX_SIGNER_KEYS: usize = 4;

/// Checks the event of an invite or send_join/leave/knock request from
/// `origin` to `destination`; other endpoints pass.
pub(super) async fn check(
    state: &State,
    endpoint: &Endpoint<'_>,
    content: &CanonicalJsonValue,
    origin: &ServerName,
    destination: &ServerName,
) -> Result<(), Denied> {
    let expected = match endpoint.kind {
        EndpointKind::InviteV1 | EndpointKind::InviteV2 => None,
        EndpointKind::SendJoinV1 | EndpointKind::SendJoinV2 => Some(&JOIN),
        EndpointKind::SendLeaveV1 | EndpointKind::SendLeaveV2 => Some(&LEAVE),
        EndpointKind::SendKnock => Some(&KNOCK),
        _ => return Ok(()),
    };
    if let Some(expected) = expected {
        return check_membership(content, origin, expected);
    }
    let invite = Invite::parse(endpoint.kind, content)?;
    let path = PathIds::from_endpoint(endpoint)?;
    invite.check_stateless(origin, destination, &path)?;
    if !state.verify {
        return Ok(());
    }
    // Boxed: invites are rare, and the key lookup's future would
    // otherwise enlarge the state of every inbound request.
    let keys = Box::pin(origin_keys(state, &invite, origin)).await;
    invite.check_signature(origin, &keys)
}

/// What a send_join/send_leave/send_knock event must be, and the reasons.
pub(super) struct Expected {
    membership: &'static str,
    not_origin: &'static str,
    wrong_membership: &'static str,
    bad_event: &'static str,
}

const JOIN: Expected = Expected {
    membership: "join",
    not_origin: "join_user_not_origin",
    wrong_membership: "join_wrong_membership",
    bad_event: "join_bad_event",
};
const LEAVE: Expected = Expected {
    membership: "leave",
    not_origin: "leave_user_not_origin",
    wrong_membership: "leave_wrong_membership",
    bad_event: "leave_bad_event",
};
const KNOCK: Expected = Expected {
    membership: "knock",
    not_origin: "knock_user_not_origin",
    wrong_membership: "knock_wrong_membership",
    bad_event: "knock_bad_event",
};

/// The body of send_join/leave/knock is the event: its `sender` and
/// `state_key` are users of `origin` and its membership is the expected one.
pub(super) fn check_membership(
    content: &CanonicalJsonValue,
    origin: &ServerName,
    expected: &Expected,
) -> Result<(), Denied> {
    let bad = Denied::Forbidden(expected.bad_event);
    let member = content.as_object().and_then(Member::parse).ok_or(bad)?;
    if member.sender.server_name() != origin || member.state_key.server_name() != origin {
        return Err(Denied::Forbidden(expected.not_origin));
    }
    if member.membership != expected.membership {
        return Err(Denied::Forbidden(expected.wrong_membership));
    }
    Ok(())
}

/// An invite request's event and room version.
pub(super) struct Invite<'a> {
    room_version: RoomVersion,
    event: &'a CanonicalJsonObject,
}

impl<'a> Invite<'a> {
    /// v2: `{room_version, event, ..}`; v1: the body is the event (room version 1).
    pub(super) fn parse(
        kind: EndpointKind,
        content: &'a CanonicalJsonValue,
    ) -> Result<Self, Denied> {
        let bad = Denied::Forbidden("invite_bad_event");
        let body = content.as_object().ok_or(bad)?;
        if kind == EndpointKind::InviteV1 {
            return Ok(Self {
                room_version: RoomVersion::V1,
                event: body,
            });
        }
        let room_version = body
            .get("room_version")
            .and_then(CanonicalJsonValue::as_str)
            .and_then(|v| RoomVersion::parse(v).ok())
            .ok_or(Denied::UnsupportedRoomVersion)?;
        let event = body
            .get("event")
            .and_then(CanonicalJsonValue::as_object)
            .ok_or(bad)?;
        Ok(Self {
            room_version,
            event,
        })
    }

    /// Everything but the signature: shape, membership, users' servers,
    /// path ids, content hash.
    pub(super) fn check_stateless(
        &self,
        origin: &ServerName,
        destination: &ServerName,
        path: &PathIds,
    ) -> Result<(), Denied> {
        let member = Member::parse(self.event).ok_or(Denied::Forbidden("invite_bad_event"))?;
        if member.membership != "invite" {
            return Err(Denied::Forbidden("invite_wrong_membership"));
        }
        if member.sender.server_name() != origin {
            return Err(Denied::Forbidden("invite_sender_not_origin"));
        }
        if member.state_key.server_name() != destination {
            return Err(Denied::Forbidden("invitee_not_ours"));
        }
        let room_id = self
            .event
            .get("room_id")
            .and_then(CanonicalJsonValue::as_str);
        if room_id != Some(path.room_id.as_str()) {
            return Err(Denied::Forbidden("invite_room_mismatch"));
        }
        let event_id = event::event_id(self.event, &self.room_version)
            .map_err(|_| Denied::Forbidden("invite_bad_event"))?;
        if event_id.as_str() != path.event_id {
            return Err(Denied::Forbidden("invite_event_id_mismatch"));
        }
        event::check_content_hash(self.event).map_err(|error| match error {
            EventError::ContentHashMismatch => Denied::Forbidden("invite_bad_content_hash"),
            _ => Denied::Forbidden("invite_bad_event"),
        })
    }

    /// The origin's signature verifies with one of `keys` (only the
    /// sender's server signs before our homeserver does).
    pub(super) fn check_signature(
        &self,
        origin: &ServerName,
        keys: &BTreeMap<KeyId, VerifyingKey>,
    ) -> Result<(), Denied> {
        let lookup = |server: &ServerName, id: &KeyId| {
            (server == origin).then(|| keys.get(id).copied()).flatten()
        };
        event::verify_event_signatures(self.event, &self.room_version, lookup).map_err(|error| {
            match error {
                EventError::MissingSignature(_) | EventError::NoKnownKey(_) => {
                    Denied::Unauthorized("invite_unsigned")
                }
                EventError::BadSignature { .. } => Denied::Unauthorized("invite_bad_signature"),
                _ => Denied::Forbidden("invite_bad_event"),
            }
        })
    }

    /// The key ids under which `origin` signed the event.
    pub(super) fn signer_key_ids(&self, origin: &ServerName) -> Vec<KeyId> {
        let by_origin = self
            .event
            .get("signatures")
            .and_then(CanonicalJsonValue::as_object)
            .and_then(|s| s.get(origin.as_str()))
            .and_then(CanonicalJsonValue::as_object);
        by_origin
            .into_iter()
            .flat_map(|sigs| sigs.keys())
            .filter_map(|id| KeyId::parse_lax(id).ok())
            .filter(KeyId::is_ed25519)
            .take(MAX_SIGNER_KEYS)
            .collect()
    }

    fn origin_server_ts(&self) -> u64 {
        match self.event.get("origin_server_ts") {
            Some(CanonicalJsonValue::Integer(ts)) => u64::try_from(i64::from(*ts)).unwrap_or(0),
            _ => 0,
        }
    }
}

/// The room and event ids of the request path, percent-decoded.
pub(super) struct PathIds {
    room_id: String,
    event_id: String,
}

impl PathIds {
    /// Decodes `{roomId}` and `{eventId}` of an invite path.
    pub(super) fn from_endpoint(endpoint: &Endpoint<'_>) -> Result<Self, Denied> {
        let decode = |param| -> Result<String, Denied> {
            let raw = endpoint.param(param).unwrap_or_default();
            let mut bytes = Vec::with_capacity(raw.len());
            percent_decode_segment(raw, &mut bytes).map_err(Denied::from)?;
            String::from_utf8(bytes).map_err(|_| Denied::NotFound("bad_path_id"))
        };
        Ok(Self {
            room_id: decode(Param::RoomId)?,
            event_id: decode(Param::EventId)?,
        })
    }
}

/// The fields of an `m.room.member` event the edge checks use.
struct Member<'a> {
    sender: UserId,
    state_key: UserId,
    membership: &'a str,
}

impl<'a> Member<'a> {
    fn parse(event: &'a CanonicalJsonObject) -> Option<Self> {
        let text = |key: &str| event.get(key).and_then(CanonicalJsonValue::as_str);
        if text("type")? != "m.room.member" {
            return None;
        }
        let membership = event
            .get("content")
            .and_then(CanonicalJsonValue::as_object)?
            .get("membership")
            .and_then(CanonicalJsonValue::as_str)?;
        Some(Self {
            sender: UserId::parse(text("sender")?).ok()?,
            state_key: UserId::parse(text("state_key")?).ok()?,
            membership,
        })
    }
}

/// The origin's keys for the key ids it signed the invite with: fetched
/// keys valid for the event's timestamp (old keys included), else the
/// keyring's current (pinned or fetched) key.
async fn origin_keys(
    state: &State,
    invite: &Invite<'_>,
    origin: &ServerName,
) -> BTreeMap<KeyId, VerifyingKey> {
    let cached = state.keyring.cached_keys(origin);
    let ts = invite.origin_server_ts();
    let mut keys = BTreeMap::new();
    for id in invite.signer_key_ids(origin) {
        let for_event = cached
            .as_ref()
            .and_then(|k| k.key_for_event(&id, ts, &invite.room_version).copied());
        let key = match for_event {
            Some(key) => Some(key),
            None => state.keyring.request_key(origin, &id).await.ok(),
        };
        if let Some(key) = key {
            keys.insert(id, key);
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use mxgate_core::json;

    use super::*;

    fn member(sender: &str, state_key: &str, membership: &str) -> CanonicalJsonValue {
        let text = format!(
            r#"{{"type":"m.room.member","sender":"{sender}","state_key":"{state_key}","content":{{"membership":"{membership}"}}}}"#
        );
        json::parse_strict(text.as_bytes()).unwrap()
    }

    #[test]
    fn membership_events_of_send_join_leave_knock() {
        let origin = ServerName::parse("remote.test").unwrap();
        let cases = [
            (
                &JOIN,
                member("@a:remote.test", "@a:remote.test", "join"),
                Ok(()),
            ),
            (
                &LEAVE,
                member("@a:remote.test", "@a:remote.test", "leave"),
                Ok(()),
            ),
            (
                &KNOCK,
                member("@a:remote.test", "@a:remote.test", "knock"),
                Ok(()),
            ),
            (
                &LEAVE,
                member("@a:hs.test", "@a:hs.test", "leave"),
                Err("leave_user_not_origin"),
            ),
            (
                &KNOCK,
                member("@a:remote.test", "@b:hs.test", "knock"),
                Err("knock_user_not_origin"),
            ),
            (
                &KNOCK,
                member("@a:remote.test", "@a:remote.test", "join"),
                Err("knock_wrong_membership"),
            ),
            (
                &JOIN,
                member("@a:remote.test", "not-a-user", "join"),
                Err("join_bad_event"),
            ),
            (
                &JOIN,
                CanonicalJsonValue::Array(vec![]),
                Err("join_bad_event"),
            ),
        ];
        for (expected, event, outcome) in cases {
            let got = check_membership(&event, &origin, expected).map_err(|d| d.reason());
            assert_eq!(got, outcome, "{event:?}");
        }
    }

    #[test]
    fn invite_body_shapes() {
        let not_object = CanonicalJsonValue::Array(vec![]);
        let denied = Invite::parse(EndpointKind::InviteV2, &not_object).err();
        assert_eq!(denied, Some(Denied::Forbidden("invite_bad_event")));
        let no_version = json::parse_strict(br#"{"event":{}}"#).unwrap();
        let denied = Invite::parse(EndpointKind::InviteV2, &no_version).err();
        assert_eq!(denied, Some(Denied::UnsupportedRoomVersion));
        let no_event = json::parse_strict(br#"{"room_version":"10"}"#).unwrap();
        let denied = Invite::parse(EndpointKind::InviteV2, &no_event).err();
        assert_eq!(denied, Some(Denied::Forbidden("invite_bad_event")));
        let v1 = member("@a:remote.test", "@b:hs.test", "invite");
        let invite = Invite::parse(EndpointKind::InviteV1, &v1).ok();
        assert_eq!(invite.map(|i| i.room_version), Some(RoomVersion::V1));
    }
}
