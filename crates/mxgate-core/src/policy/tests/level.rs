//! Room trust level tests.

use super::*;

use Membership::{Ban, Invite, Join, Knock, Leave};

fn servers(names: &[&str]) -> Vec<ServerName> {
    names.iter().map(|name| s(name)).collect()
}

#[test]
fn level_cases() {
    use TrustLevel::{Green, Orange, Red};
    // Members besides a joined internal user, and the expected level.
    let cases: &[(&[(&str, Membership)], TrustLevel)] = &[
        (&[], Green),
        (&[(IN_B, Join), (IN_FAR, Invite)], Green),
        (&[(EXT, Invite)], Orange),
        (&[(LA, Join)], Orange),
        (&[(EXT, Leave)], Green),
        (&[(EXT, Knock)], Green),
        (&[(UNKNOWN, Ban)], Green),
        (&[(UNKNOWN, Leave), (EXT, Join)], Orange),
        (&[(UNKNOWN, Invite)], Red),
        (&[(EXT, Join), (UNKNOWN, Join)], Red),
    ];
    let dir = directory();
    for (members, expected) in cases {
        let mut all = vec![(IN, Join)];
        all.extend_from_slice(members);
        let state = room(JoinRule::Invite, true, &all);
        assert_eq!(
            room_trust_level(&dir, &state).level,
            *expected,
            "{members:?}"
        );
    }
    let empty = room(JoinRule::Invite, true, &[]);
    assert_eq!(room_trust_level(&dir, &empty).level, Green);
}

#[test]
fn green_to_orange_to_red() {
    let dir = directory();
    let mut state = room(
        JoinRule::Invite,
        true,
        &[
            ("@b:b.gouv.example", Join),
            ("@a:a.gouv.example", Join),
            ("@c:a.gouv.example", Invite),
        ],
    );
    let trust = room_trust_level(&dir, &state);
    assert_eq!(trust.level, TrustLevel::Green);
    assert_eq!(
        trust.servers.internal,
        servers(&["a.gouv.example", "b.gouv.example"])
    );
    assert!(trust.servers.external.is_empty() && trust.servers.unknown.is_empty());

    state.members.push((u("@l:la.example"), Invite));
    state.members.push((u("@e:ext.example"), Join));
    state.members.push((u("@f:ext.example"), Join));
    let trust = room_trust_level(&dir, &state);
    assert_eq!(trust.level, TrustLevel::Orange);
    assert_eq!(
        trust.servers.external,
        servers(&["ext.example", "la.example"])
    );

    state.members.push((u("@m:evil.example"), Join));
    let trust = room_trust_level(&dir, &state);
    assert_eq!(trust.level, TrustLevel::Red);
    assert_eq!(trust.servers.unknown, servers(&["evil.example"]));
    assert_eq!(trust.level.as_str(), "red");
}

#[test]
fn trust_endpoint_json() {
    let dir = directory();
    let members = [("@a:a.gouv.example", Join), ("@e:ext.example", Join)];
    let trust = room_trust_level(&dir, &room(JoinRule::Invite, true, &members));
    let json = serde_json::to_value(&trust).unwrap();
    let expected = serde_json::json!({
        "level": "orange",
        "servers": {"internal": ["a.gouv.example"], "external": ["ext.example"], "unknown": []},
    });
    assert_eq!(json, expected);
}
