//! Edge checks on invite and send_join events: a valid signed invite passes
//! byte-identical; every refusal asserts the exact status and errcode and
//! that no upstream received anything.

use mxgate_core::{
    event::{self, RoomVersion},
    ids::{KeyId, ServerName},
    json::{self, CanonicalJsonObject, CanonicalJsonValue},
};

use super::{env, env_with, refused};
use crate::common::*;

const ROOM: &str = "!r:remote.test";

/// An unsigned `m.room.member` event.
fn member_event(sender: &str, state_key: &str, membership: &str) -> CanonicalJsonObject {
    let text = format!(
        r#"{{"type":"m.room.member","room_id":"{ROOM}","sender":"{sender}","state_key":"{state_key}",
        "origin":"remote.test","origin_server_ts":1700000000000,"depth":7,
        "prev_events":["$p"],"auth_events":["$a"],"content":{{"membership":"{membership}"}}}}"#
    );
    json::parse_object(text.as_bytes()).unwrap()
}

fn sign(event: &mut CanonicalJsonObject, rv: &RoomVersion) {
    event::sign_event(
        event,
        rv,
        &ServerName::parse(REMOTE).unwrap(),
        &KeyId::parse(REMOTE_KEY).unwrap(),
        &remote_key(),
    )
    .unwrap();
}

fn signed_invite(sender: &str, invitee: &str, membership: &str) -> CanonicalJsonObject {
    let mut event = member_event(sender, invitee, membership);
    sign(&mut event, &RoomVersion::V10);
    event
}

fn encode(id: &str) -> String {
    id.replace('!', "%21")
        .replace('$', "%24")
        .replace(':', "%3A")
        .replace('/', "%2F")
        .replace('+', "%2B")
}

/// `(target, body)` of a v2 invite; the path event id is the event's own.
fn invite_request(event: &CanonicalJsonObject, room_version: &str) -> (String, String) {
    let id = event::event_id(event, &RoomVersion::V10).unwrap();
    invite_request_for(event, room_version, id.as_str())
}

fn invite_request_for(
    event: &CanonicalJsonObject,
    room_version: &str,
    event_id: &str,
) -> (String, String) {
    let target = format!(
        "/_matrix/federation/v2/invite/{}/{}",
        encode(ROOM),
        encode(event_id)
    );
    let body = CanonicalJsonObject::from([
        ("room_version".to_owned(), room_version.to_owned().into()),
        (
            "event".to_owned(),
            CanonicalJsonValue::Object(event.clone()),
        ),
        (
            "invite_room_state".to_owned(),
            CanonicalJsonValue::Array(vec![]),
        ),
    ]);
    let body = String::from_utf8(json::to_canonical_vec(&body.into())).unwrap();
    (target, body)
}

#[tokio::test]
async fn valid_signed_invite_reaches_the_upstream_byte_identical() {
    let env = env().await;
    let event = signed_invite("@alice:remote.test", "@bob:hs.test", "invite");
    let (target, body) = invite_request(&event, "10");
    let response = send_raw(env.gw.addr, &signed("PUT", &target, Some(&body))).await;
    assert_eq!(response.status, 200, "{response:?}");
    let seen = env.hs.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, target);
    assert_eq!(seen[0].body, body.as_bytes());
    assert!(env.other.seen().is_empty());
}

#[tokio::test]
async fn v1_invite_body_is_the_event_of_room_version_1() {
    let env = env().await;
    let mut event = member_event("@alice:remote.test", "@bob:hs.test", "invite");
    event.insert("event_id".to_owned(), "$e1:remote.test".to_owned().into());
    sign(&mut event, &RoomVersion::V1);
    let target = format!(
        "/_matrix/federation/v1/invite/{}/{}",
        encode(ROOM),
        encode("$e1:remote.test")
    );
    let body = String::from_utf8(json::to_canonical_vec(&event.clone().into())).unwrap();
    let response = send_raw(env.gw.addr, &signed("PUT", &target, Some(&body))).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(env.hs.seen()[0].body, body.as_bytes());
    env.hs.clear();
    let bad_target = target.replace("e1", "e2");
    let request = signed("PUT", &bad_target, Some(&body));
    refused(&env, &request, 403, "M_FORBIDDEN").await;
}

#[tokio::test]
async fn invite_refusals() {
    let env = env().await;
    let valid = signed_invite("@alice:remote.test", "@bob:hs.test", "invite");
    // `displayname` is redacted away: the event id and signature still match,
    // only the content hash tells.
    let mut tampered = valid.clone();
    if let Some(CanonicalJsonValue::Object(content)) = tampered.get_mut("content") {
        content.insert("displayname".to_owned(), "Mallory".to_owned().into());
    }
    let unsigned = {
        let mut event = valid.clone();
        event.remove("signatures");
        event
    };
    let mut wrong_key = member_event("@alice:remote.test", "@bob:hs.test", "invite");
    event::sign_event(
        &mut wrong_key,
        &RoomVersion::V10,
        &ServerName::parse(REMOTE).unwrap(),
        &KeyId::parse(REMOTE_KEY).unwrap(),
        &untrusted_key(),
    )
    .unwrap();
    let cases: Vec<(&str, (String, String), u16, &str)> = vec![
        (
            "sender on another server",
            invite_request(
                &signed_invite("@eve:hs.test", "@bob:hs.test", "invite"),
                "10",
            ),
            403,
            "M_FORBIDDEN",
        ),
        (
            "invitee on another server",
            invite_request(
                &signed_invite("@alice:remote.test", "@bob:other.test", "invite"),
                "10",
            ),
            403,
            "M_FORBIDDEN",
        ),
        (
            "wrong membership",
            invite_request(
                &signed_invite("@alice:remote.test", "@bob:hs.test", "join"),
                "10",
            ),
            403,
            "M_FORBIDDEN",
        ),
        (
            "tampered after signing",
            invite_request(&tampered, "10"),
            403,
            "M_FORBIDDEN",
        ),
        (
            "unsigned",
            invite_request(&unsigned, "10"),
            401,
            "M_UNAUTHORIZED",
        ),
        (
            "signed by another key",
            invite_request(&wrong_key, "10"),
            401,
            "M_UNAUTHORIZED",
        ),
        (
            "path event id mismatch",
            invite_request_for(&valid, "10", "$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            403,
            "M_FORBIDDEN",
        ),
        (
            "unknown room version",
            invite_request(&valid, "99"),
            400,
            "M_UNSUPPORTED_ROOM_VERSION",
        ),
    ];
    for (name, (target, body), status, errcode) in cases {
        let response = send_raw(env.gw.addr, &signed("PUT", &target, Some(&body))).await;
        assert_eq!(response.status, status, "{name}: {response:?}");
        assert_eq!(response.errcode(), errcode, "{name}: {response:?}");
        assert!(env.hs.seen().is_empty(), "{name}: upstream saw it");
        assert!(env.other.seen().is_empty(), "{name}: other upstream saw it");
    }
    let metrics = env.gw.gateway.metrics().encode();
    for reason in [
        "invite_sender_not_origin",
        "invitee_not_ours",
        "invite_wrong_membership",
        "invite_bad_content_hash",
        "invite_unsigned",
        "invite_bad_signature",
        "invite_event_id_mismatch",
        "unsupported_room_version",
    ] {
        assert!(
            metrics.contains(&format!("reason=\"{reason}\"")),
            "{reason}: {metrics}"
        );
    }
}

#[tokio::test]
async fn send_join_for_a_user_of_another_server_is_403() {
    let env = env().await;
    let target = "/_matrix/federation/v2/send_join/%21r%3Ahs.test/%24j";
    for (sender, state_key, membership) in [
        ("@eve:hs.test", "@eve:hs.test", "join"),
        ("@alice:remote.test", "@eve:other.test", "join"),
        ("@alice:remote.test", "@alice:remote.test", "leave"),
    ] {
        let event = member_event(sender, state_key, membership);
        let body = String::from_utf8(json::to_canonical_vec(&event.into())).unwrap();
        refused(
            &env,
            &signed("PUT", target, Some(&body)),
            403,
            "M_FORBIDDEN",
        )
        .await;
    }
    let event = member_event("@alice:remote.test", "@alice:remote.test", "join");
    let body = String::from_utf8(json::to_canonical_vec(&event.into())).unwrap();
    let response = send_raw(env.gw.addr, &signed("PUT", target, Some(&body))).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(env.hs.seen()[0].body, body.as_bytes());
    let metrics = env.gw.gateway.metrics().encode();
    assert!(
        metrics.contains("reason=\"join_user_not_origin\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("reason=\"join_wrong_membership\""),
        "{metrics}"
    );
}

#[tokio::test]
async fn report_mode_forwards_a_bad_invite_and_counts_it() {
    let env = env_with(|s| s.mode = "report").await;
    let event = signed_invite("@alice:remote.test", "@bob:other.test", "invite");
    let (target, body) = invite_request(&event, "10");
    let response = send_raw(env.gw.addr, &signed("PUT", &target, Some(&body))).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(env.hs.seen().len(), 1);
    let metrics = env.gw.gateway.metrics().encode();
    assert!(
        metrics.contains("verdict=\"would_reject\",reason=\"invitee_not_ours\""),
        "{metrics}"
    );
}
