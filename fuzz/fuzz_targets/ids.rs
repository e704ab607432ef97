//! Identifiers: `ids::ServerName`, `KeyId` (strict and lax), `UserId`,
//! `RoomId` and `EventId` parsed from arbitrary text.
//!
//! Invariants: every accepted id keeps its text (`as_str()` re-parses equal,
//! serde round-trips it); a server name splits exactly into its host and
//! port, an IPv6 host is a bracketed IPv6 address; a strict key id is also a
//! lax one and reads back as `algorithm:version`; user, room and event ids end
//! with the server name they report.
#![no_main]

use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use mxgate_core::ids::{EventId, KeyId, RoomId, ServerName, UserId};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(name) = ServerName::parse(text) {
        check_server_name(text, &name);
    }
    check_key_id(text);
    if let Ok(user) = UserId::parse(text) {
        assert_eq!(UserId::parse(user.as_str()).as_ref(), Ok(&user));
        assert_eq!(
            text,
            format!("@{}:{}", user.localpart(), user.server_name())
        );
        check_server_name(user.server_name().as_str(), user.server_name());
    }
    if let Ok(room) = RoomId::parse(text) {
        assert_eq!(RoomId::parse(room.as_str()).as_ref(), Ok(&room));
        assert!(text.starts_with('!'));
        if let Some(server) = room.server_name() {
            assert!(text.ends_with(&format!(":{server}")));
        }
    }
    if let Ok(event) = EventId::parse(text) {
        assert_eq!(EventId::parse(event.as_str()).as_ref(), Ok(&event));
        assert!(text.starts_with('$'));
        if let Some(server) = event.server_name() {
            assert!(text.ends_with(&format!(":{server}")));
        }
    }
});

fn check_server_name(text: &str, name: &ServerName) {
    assert_eq!(name.as_str(), text);
    assert_eq!(ServerName::parse(name.as_str()).as_ref(), Ok(name));
    let json = serde_json::to_string(name).expect("serialises");
    assert_eq!(
        serde_json::from_str::<ServerName>(&json).ok().as_ref(),
        Some(name)
    );
    let host = name.host();
    assert!(!host.is_empty() && text.starts_with(host));
    match name.port() {
        None => assert_eq!(host, text),
        Some(port) => {
            assert_ne!(port, 0);
            let rest = text[host.len()..]
                .strip_prefix(':')
                .expect("a port follows a colon");
            assert_eq!(rest.parse::<u16>(), Ok(port));
        }
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').expect("bracketed IPv6 literal");
        assert!(
            inner.parse::<Ipv6Addr>().is_ok(),
            "bad IPv6 literal {inner:?}"
        );
        assert!(name.is_ip_literal());
    }
}

fn check_key_id(text: &str) {
    let lax = KeyId::parse_lax(text);
    if let Ok(id) = KeyId::parse(text) {
        assert_eq!(
            lax.as_ref(),
            Ok(&id),
            "strict key id refused by the lax parser"
        );
        assert!(id.is_ed25519());
        assert_eq!(format!("{}:{}", id.algorithm(), id.version()), text);
        let json = serde_json::to_string(&id).expect("serialises");
        assert_eq!(
            serde_json::from_str::<KeyId>(&json).ok().as_ref(),
            Some(&id)
        );
    }
    if let Ok(id) = lax {
        assert_eq!(id.as_str(), text);
        assert_eq!(format!("{}:{}", id.algorithm(), id.version()), text);
    }
}
