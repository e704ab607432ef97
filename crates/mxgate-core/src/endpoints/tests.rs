use super::*;

const FED: &str = "/_matrix/federation";

fn kind(method: &str, path: &str) -> Result<EndpointKind, EndpointError> {
    classify(method, path).map(|e| e.kind)
}

#[test]
fn every_endpoint_is_allowed() {
    use EndpointKind::*;
    let room = "!abc%3Aexample.org";
    let event = "$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg";
    let user = "%40alice%3Aexample.org";
    let cases: Vec<(&str, String, EndpointKind)> = vec![
        ("PUT", format!("{FED}/v1/send/1700000000000"), Send),
        ("GET", format!("{FED}/v1/event/{event}"), Event),
        ("GET", format!("{FED}/v1/state/{room}"), State),
        ("GET", format!("{FED}/v1/state_ids/{room}"), StateIds),
        (
            "GET",
            format!("{FED}/v1/event_auth/{room}/{event}"),
            EventAuth,
        ),
        ("GET", format!("{FED}/v1/backfill/{room}"), Backfill),
        (
            "POST",
            format!("{FED}/v1/get_missing_events/{room}"),
            GetMissingEvents,
        ),
        ("GET", format!("{FED}/v1/make_join/{room}/{user}"), MakeJoin),
        (
            "PUT",
            format!("{FED}/v1/send_join/{room}/{event}"),
            SendJoinV1,
        ),
        (
            "PUT",
            format!("{FED}/v2/send_join/{room}/{event}"),
            SendJoinV2,
        ),
        (
            "GET",
            format!("{FED}/v1/make_leave/{room}/{user}"),
            MakeLeave,
        ),
        (
            "PUT",
            format!("{FED}/v1/send_leave/{room}/{event}"),
            SendLeaveV1,
        ),
        (
            "PUT",
            format!("{FED}/v2/send_leave/{room}/{event}"),
            SendLeaveV2,
        ),
        (
            "GET",
            format!("{FED}/v1/make_knock/{room}/{user}"),
            MakeKnock,
        ),
        (
            "PUT",
            format!("{FED}/v1/send_knock/{room}/{event}"),
            SendKnock,
        ),
        ("PUT", format!("{FED}/v1/invite/{room}/{event}"), InviteV1),
        ("PUT", format!("{FED}/v2/invite/{room}/{event}"), InviteV2),
        (
            "PUT",
            format!("{FED}/v1/exchange_third_party_invite/{room}"),
            ExchangeThirdPartyInvite,
        ),
        ("PUT", format!("{FED}/v1/3pid/onbind"), ThreePidOnbind),
        ("GET", format!("{FED}/v1/query/directory"), QueryDirectory),
        ("GET", format!("{FED}/v1/query/profile"), QueryProfile),
        ("GET", format!("{FED}/v1/query/m.custom"), Query),
        ("GET", format!("{FED}/v1/user/devices/{user}"), UserDevices),
        ("POST", format!("{FED}/v1/user/keys/query"), UserKeysQuery),
        ("POST", format!("{FED}/v1/user/keys/claim"), UserKeysClaim),
        ("GET", format!("{FED}/v1/publicRooms"), PublicRoomsGet),
        ("POST", format!("{FED}/v1/publicRooms"), PublicRoomsPost),
        ("GET", format!("{FED}/v1/hierarchy/{room}"), Hierarchy),
        ("GET", format!("{FED}/v1/openid/userinfo"), OpenidUserinfo),
        (
            "GET",
            format!("{FED}/v1/timestamp_to_event/{room}"),
            TimestampToEvent,
        ),
        (
            "GET",
            format!("{FED}/v1/media/download/abcDEF123"),
            MediaDownload,
        ),
        (
            "GET",
            format!("{FED}/v1/media/thumbnail/abcDEF123"),
            MediaThumbnail,
        ),
        ("GET", format!("{FED}/v1/version"), Version),
        ("GET", "/_matrix/key/v2/server".into(), KeyServer),
        (
            "GET",
            "/_matrix/key/v2/server/ed25519%3Aa_1".into(),
            KeyServerLegacy,
        ),
        ("GET", "/_matrix/key/v2/query/example.org".into(), KeyQuery),
        (
            "GET",
            "/_matrix/key/v2/query/example.org/ed25519:a".into(),
            KeyQueryLegacy,
        ),
        ("POST", "/_matrix/key/v2/query".into(), KeyQueryBatch),
    ];
    assert_eq!(cases.len(), table::TEMPLATES.len());
    for (method, path, expected) in cases {
        assert_eq!(kind(method, &path), Ok(expected), "{method} {path}");
    }
}

#[test]
fn refused_paths() {
    use EndpointError::*;
    let cases: &[(&str, &str, EndpointError)] = &[
        ("GET", "/_matrix/client/v3/sync", Unrecognized),
        ("GET", "/_matrix/client/versions", Unrecognized),
        ("POST", "/_synapse/admin/v1/register", Unrecognized),
        (
            "GET",
            "/_synapse/client/mxgate/v1/rooms/x/trust",
            Unrecognized,
        ),
        ("GET", "/_matrix/media/v3/download/a/b", Unrecognized),
        ("GET", "/", EmptySegment),
        ("GET", "", NotOriginForm),
        ("GET", "*", NotOriginForm),
        (
            "GET",
            "http://example.org/_matrix/federation/v1/version",
            NotOriginForm,
        ),
        ("GET", "/_matrix/federation/v1/version/", EmptySegment),
        ("GET", "/_matrix//federation/v1/version", EmptySegment),
        ("GET", "//_matrix/federation/v1/version", EmptySegment),
        (
            "GET",
            "/_matrix/federation/v1/../../client/v3/sync",
            DotSegment,
        ),
        ("GET", "/_matrix/federation/v1/./version", DotSegment),
        (
            "GET",
            "/_matrix/federation/v1/%2e%2e/%2E%2E/client/v3/sync",
            DotSegment,
        ),
        ("GET", "/_matrix/federation/v1/state/%2e", DotSegment),
        ("GET", "/_matrix/federation/v1/state/.%2E", DotSegment),
        ("GET", "/_matrix%2Ffederation/v1/version", Unrecognized),
        ("GET", "/_matrix/federation%2Fv1/version", Unrecognized),
        ("GET", "/_matrix/federation/v1/%76ersion", Unrecognized),
        ("PUT", "/_matrix/federation/v1/%73end/1", Unrecognized),
        ("GET", "/_matrix/federation/v1/state/%zz", BadEncoding),
        ("GET", "/_matrix/federation/v1/state/abc%4", BadEncoding),
        ("GET", "/_matrix/federation/v1/state/abc%00", BadEncoding),
        ("GET", "/_matrix/federation/v1/state/%ff%fe", BadEncoding),
        ("GET", "/_matrix/federation/v1/send/1", MethodNotAllowed),
        ("POST", "/_matrix/federation/v1/send/1", MethodNotAllowed),
        ("DELETE", "/_matrix/federation/v1/version", MethodNotAllowed),
        ("PUT", "/_matrix/key/v2/query", MethodNotAllowed),
        ("get", "/_matrix/federation/v1/version", MethodNotAllowed),
        ("PUT", "/_matrix/federation/v1/send", Unrecognized),
        ("PUT", "/_matrix/federation/v1/send/1/2", Unrecognized),
        ("PUT", "/_matrix/federation/v3/send/1", Unrecognized),
        (
            "GET",
            "/_matrix/federation/v1/a/b/c/d/e/f/g/h/i",
            Unrecognized,
        ),
        ("GET", "/_matrix/federation/v1/state/a?b", BadEncoding),
        ("GET", "/_matrix/federation/v1/state/a#b", BadEncoding),
        ("GET", "/_matrix/federation/v1/state/a b", BadEncoding),
        ("GET", "/_matrix/federation/v1/state/a\"b", BadEncoding),
        ("GET", "/_matrix/federation/v1/state/é", BadEncoding),
    ];
    for (method, path, expected) in cases {
        assert_eq!(kind(method, path), Err(*expected), "{method} {path}");
    }
}

#[test]
fn parameters_are_raw_single_segments() {
    let room = "!r%3Ae.org";
    let event = "$aGVsbG8%2Fd29ybGQ";
    let path = format!("{FED}/v1/event_auth/{room}/{event}");
    let endpoint = classify("GET", &path).unwrap();
    assert_eq!(endpoint.param(Param::RoomId), Some(room));
    assert_eq!(endpoint.param(Param::EventId), Some(event));
    assert_eq!(endpoint.param(Param::UserId), None);

    let send = classify("PUT", "/_matrix/federation/v1/send/txn%2F1").unwrap();
    assert_eq!(send.param(Param::TxnId), Some("txn%2F1"));
    assert_eq!(send.class(), "send");
    assert_eq!(send.body(), BodyClass::Transaction);
    assert!(send.signed());
}

#[test]
fn signing_and_body_classes() {
    let unsigned = [
        ("GET", "/_matrix/federation/v1/version"),
        ("GET", "/_matrix/key/v2/server"),
        ("POST", "/_matrix/key/v2/query"),
        ("GET", "/_matrix/federation/v1/openid/userinfo"),
        ("PUT", "/_matrix/federation/v1/3pid/onbind"),
    ];
    for (method, path) in unsigned {
        assert!(!classify(method, path).unwrap().signed(), "{path}");
    }
    let media = classify("GET", "/_matrix/federation/v1/media/download/x").unwrap();
    assert!(media.signed());
    assert_eq!(media.body(), BodyClass::Media);
    assert_eq!(media.class(), "media");
    let invite = classify("PUT", "/_matrix/federation/v2/invite/!a:b/$c").unwrap();
    assert_eq!(invite.body(), BodyClass::Json);
    assert_eq!(invite.class(), "invite");
    let state = classify("GET", "/_matrix/federation/v1/state/!a:b").unwrap();
    assert_eq!(state.body(), BodyClass::Empty);
}

#[test]
fn percent_decoding() {
    let mut out = Vec::new();
    percent_decode_segment("%40a%3Ab%2fc", &mut out).unwrap();
    assert_eq!(out, b"@a:b/c");
    assert_eq!(
        percent_decode_segment("%C3%A9", &mut out).map(|()| out.clone()),
        Ok("é".as_bytes().to_vec())
    );
    assert_eq!(
        percent_decode_segment("%", &mut out),
        Err(EndpointError::BadEncoding)
    );
    assert_eq!(
        percent_decode_segment("%1g", &mut out),
        Err(EndpointError::BadEncoding)
    );
    assert_eq!(
        percent_decode_segment("%0a", &mut out),
        Err(EndpointError::BadEncoding)
    );
}

#[test]
fn reasons_are_distinct() {
    use EndpointError::*;
    let all = [
        NotOriginForm,
        EmptySegment,
        DotSegment,
        BadEncoding,
        Unrecognized,
        MethodNotAllowed,
    ];
    let reasons: std::collections::BTreeSet<_> = all.iter().map(|e| e.reason()).collect();
    assert_eq!(reasons.len(), all.len());
}
