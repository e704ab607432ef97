//! Table-driven tests for the identifier grammars.

use std::collections::HashSet;

use super::*;

#[test]
fn server_name_valid() {
    let cases: &[(&str, &str, Option<u16>)] = &[
        ("example.org", "example.org", None),
        ("example.org:8448", "example.org", Some(8448)),
        ("matrix.example.org:443", "matrix.example.org", Some(443)),
        ("localhost", "localhost", None),
        ("a", "a", None),
        ("EXAMPLE.org", "EXAMPLE.org", None),
        ("my-server.example", "my-server.example", None),
        ("example.org.", "example.org.", None),
        ("1.2.3.4", "1.2.3.4", None),
        ("127.0.0.1:8481", "127.0.0.1", Some(8481)),
        ("[::1]", "[::1]", None),
        ("[::1]:8448", "[::1]", Some(8448)),
        ("[2001:db8::1]:1", "[2001:db8::1]", Some(1)),
        ("[::ffff:1.2.3.4]", "[::ffff:1.2.3.4]", None),
        (
            "[1234:5678:9abc:def0:1234:5678:9ABC:DEF0]",
            "[1234:5678:9abc:def0:1234:5678:9ABC:DEF0]",
            None,
        ),
        ("example.org:65535", "example.org", Some(65535)),
        ("example.org:08448", "example.org", Some(8448)),
        ("x1.2.3.4", "x1.2.3.4", None),
    ];
    for &(input, host, port) in cases {
        let name = ServerName::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(name.as_str(), input);
        assert_eq!(name.host(), host, "{input}");
        assert_eq!(name.port(), port, "{input}");
        assert_eq!(name.to_string(), input);
    }
    let long = "a".repeat(255);
    assert_eq!(ServerName::parse(&long).map(|n| n.host().len()), Ok(255));
}

#[test]
fn server_name_invalid() {
    let long = "a".repeat(256);
    let cases: &[(&str, IdError)] = &[
        ("", IdError::Empty),
        (":8448", IdError::Empty),
        ("example.org:", IdError::BadPort),
        ("example.org:0", IdError::BadPort),
        ("example.org:65536", IdError::BadPort),
        ("example.org:123456", IdError::BadPort),
        ("example.org:+80", IdError::BadPort),
        ("example.org:80:80", IdError::BadPort),
        ("example.org: 80", IdError::BadPort),
        ("example.org:8448 ", IdError::BadPort),
        ("exa mple.org", IdError::BadHost),
        (" example.org", IdError::BadHost),
        ("user@example.org", IdError::BadHost),
        ("example.org/path", IdError::BadHost),
        ("exämple.org", IdError::BadHost),
        ("example_org", IdError::BadHost),
        ("example.org\n", IdError::BadHost),
        ("1.2.3.999", IdError::BadIpLiteral),
        ("1.2.3", IdError::BadIpLiteral),
        ("01.2.3.4", IdError::BadIpLiteral),
        ("1.2.3.4.5", IdError::BadIpLiteral),
        ("[::1", IdError::BadIpLiteral),
        ("::1", IdError::Empty),
        ("[]", IdError::BadIpLiteral),
        ("[:]", IdError::BadIpLiteral),
        ("[::g]", IdError::BadIpLiteral),
        ("[1:2:3:4:5:6:7:8:9]", IdError::BadIpLiteral),
        ("[fe80::1%eth0]", IdError::BadIpLiteral),
        ("[::1]x", IdError::BadIpLiteral),
        ("[::1]]", IdError::BadIpLiteral),
        ("[::1]:", IdError::BadPort),
        ("[1.2.3.4]", IdError::BadIpLiteral),
        (&long, IdError::TooLong),
    ];
    for &(input, expected) in cases {
        assert_eq!(ServerName::parse(input).err(), Some(expected), "{input:?}");
    }
}

#[test]
fn key_id_strict_and_lax() {
    let valid = [
        "ed25519:1",
        "ed25519:a_doue",
        "ed25519:ABC_def_123",
        "ed25519:_",
    ];
    for input in valid {
        let id = KeyId::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!((id.algorithm(), id.as_str()), ("ed25519", input));
        assert_eq!(id.version(), &input["ed25519:".len()..]);
        assert!(id.is_ed25519());
        assert_eq!(KeyId::parse_lax(input), Ok(id));
    }
    let invalid: &[(&str, IdError)] = &[
        ("", IdError::Empty),
        ("ed25519", IdError::BadKeyId),
        ("ed25519:", IdError::BadKeyId),
        (":abc", IdError::BadKeyId),
        ("ed25519:a-b", IdError::BadKeyId),
        ("ed25519:a b", IdError::BadKeyId),
        ("ed25519:a:b", IdError::BadKeyId),
        ("ed25519:ä", IdError::BadKeyId),
        ("Ed25519:abc", IdError::UnsupportedAlgorithm),
        ("curve25519:abc", IdError::UnsupportedAlgorithm),
        ("ed25519 :abc", IdError::UnsupportedAlgorithm),
    ];
    for &(input, expected) in invalid {
        assert_eq!(KeyId::parse(input).err(), Some(expected), "{input:?}");
    }
    let lax = [
        "ed25519:a-b",
        "ed25519:a:b",
        "ed25519:auto.1",
        "curve25519:x",
    ];
    for input in lax {
        let id = KeyId::parse_lax(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(format!("{}:{}", id.algorithm(), id.version()), input);
    }
    let lax_invalid = ["ed25519:a b", "Ed25519:x", "ed25519:", "ed25519:é", "x"];
    for input in lax_invalid {
        assert!(KeyId::parse_lax(input).is_err(), "{input:?}");
    }
    assert_eq!(
        KeyId::parse(&format!("ed25519:{}", "a".repeat(248))).err(),
        Some(IdError::TooLong)
    );
}

#[test]
fn user_id() {
    let valid: &[(&str, &str, &str)] = &[
        ("@alice:example.org", "alice", "example.org"),
        ("@bob:127.0.0.1:8481", "bob", "127.0.0.1:8481"),
        ("@a.b_c=d/e+f-g:[::1]:8448", "a.b_c=d/e+f-g", "[::1]:8448"),
        (
            "@Historical!User:example.org",
            "Historical!User",
            "example.org",
        ),
    ];
    for &(input, local, server) in valid {
        let id = UserId::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!((id.localpart(), id.server_name().as_str()), (local, server));
    }
    let long = format!("@{}:example.org", "a".repeat(243));
    let invalid: &[(&str, IdError)] = &[
        ("", IdError::Empty),
        ("alice:example.org", IdError::MissingSigil),
        ("!alice:example.org", IdError::MissingSigil),
        ("@alice", IdError::MissingServerName),
        ("@:example.org", IdError::BadLocalpart),
        ("@al ice:example.org", IdError::BadLocalpart),
        ("@alïce:example.org", IdError::BadLocalpart),
        ("@alice:", IdError::Empty),
        ("@alice:exa mple.org", IdError::BadHost),
        ("@alice:example.org:0", IdError::BadPort),
        (&long, IdError::TooLong),
    ];
    for &(input, expected) in invalid {
        assert_eq!(UserId::parse(input).err(), Some(expected), "{input:?}");
    }
}

#[test]
fn room_id() {
    let hash = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_A";
    assert_eq!(hash.len(), 43);
    let v12 = RoomId::parse(&format!("!{hash}")).expect("v12 room id");
    assert_eq!(v12.server_name(), None);
    let old = RoomId::parse("!OGEhHVWSdvArJzumhm:matrix.org").expect("old room id");
    assert_eq!(
        old.server_name().map(ServerName::as_str),
        Some("matrix.org")
    );
    let invalid: Vec<(String, IdError)> = vec![
        (String::new(), IdError::Empty),
        (format!("${hash}"), IdError::MissingSigil),
        ("!".into(), IdError::BadOpaqueId),
        ("!short".into(), IdError::BadOpaqueId),
        (format!("!{hash}A"), IdError::BadOpaqueId),
        (format!("!{}", hash.replace('-', "+")), IdError::BadOpaqueId),
        ("!:example.org".into(), IdError::BadOpaqueId),
        ("!a b:example.org".into(), IdError::BadOpaqueId),
        ("!abc:".into(), IdError::Empty),
        ("!abc:bad host".into(), IdError::BadHost),
    ];
    for (input, expected) in invalid {
        assert_eq!(RoomId::parse(&input).err(), Some(expected), "{input:?}");
    }
}

#[test]
fn event_id() {
    let v3 = "$acR1l0raoZnm60CBwAVgqbZqoO/mYU81xysh1u7XcJk";
    let v4 = "$acR1l0raoZnm60CBwAVgqbZqoO_mYU81xysh1u7XcJk";
    for input in [v3, v4] {
        assert_eq!(
            EventId::parse(input).map(|e| e.server_name().cloned()),
            Ok(None)
        );
    }
    let v1 = EventId::parse("$abc123:example.org:8448").expect("v1 event id");
    assert_eq!(v1.server_name().map(ServerName::port), Some(Some(8448)));
    let invalid: &[(&str, IdError)] = &[
        ("", IdError::Empty),
        (
            "acR1l0raoZnm60CBwAVgqbZqoO_mYU81xysh1u7XcJk",
            IdError::MissingSigil,
        ),
        (
            "$acR1l0raoZnm60CBwAVgqbZqoO_mYU81xysh1u7XcJ",
            IdError::BadOpaqueId,
        ),
        (
            "$acR1l0raoZnm60CBwAVgqbZqoO_mYU81xysh1u7XcJ=",
            IdError::BadOpaqueId,
        ),
        ("$:example.org", IdError::BadOpaqueId),
        ("$abc:example.org:99999", IdError::BadPort),
    ];
    for &(input, expected) in invalid {
        assert_eq!(EventId::parse(input).err(), Some(expected), "{input:?}");
    }
}

#[test]
fn serde_goes_through_parse() {
    let name: ServerName = serde_json::from_str("\"example.org:8448\"").expect("valid");
    assert_eq!(name.port(), Some(8448));
    assert_eq!(
        serde_json::to_string(&name).expect("serialise"),
        "\"example.org:8448\""
    );
    assert!(serde_json::from_str::<ServerName>("\"bad host\"").is_err());
    assert!(serde_json::from_str::<KeyId>("\"ed25519:a-b\"").is_err());
    assert!(serde_json::from_str::<UserId>("\"@alice\"").is_err());
    assert!(serde_json::from_str::<RoomId>("\"!x\"").is_err());
    assert!(serde_json::from_str::<EventId>("\"$x\"").is_err());
    let user: UserId = serde_json::from_str("\"@a:b\"").expect("valid");
    assert_eq!(user.localpart(), "a");
}

#[test]
fn borrow_str_agrees_with_hash_and_eq() {
    let set: HashSet<ServerName> = ["a.org", "b.org:1"]
        .into_iter()
        .map(|s| ServerName::parse(s).expect("valid"))
        .collect();
    assert!(set.contains("b.org:1"));
    assert!(!set.contains("b.org"));
    let a = ServerName::parse("a.org").expect("valid");
    assert!(a < ServerName::parse("b.org").expect("valid"));
    assert_eq!(format!("{a:?}"), "ServerName(\"a.org\")");
    assert_eq!("a.org".parse::<ServerName>(), Ok(a));
}

#[test]
fn reasons_are_distinct_snake_case() {
    let all = [
        IdError::Empty,
        IdError::TooLong,
        IdError::BadHost,
        IdError::BadIpLiteral,
        IdError::BadPort,
        IdError::BadKeyId,
        IdError::UnsupportedAlgorithm,
        IdError::MissingSigil,
        IdError::MissingServerName,
        IdError::BadLocalpart,
        IdError::BadOpaqueId,
    ];
    let reasons: HashSet<&str> = all.iter().map(IdError::reason).collect();
    assert_eq!(reasons.len(), all.len());
    assert!(
        reasons
            .iter()
            .all(|r| r.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    );
}
