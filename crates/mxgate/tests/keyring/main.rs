//! Keyring tests over real sockets on 127.0.0.1: fake key servers speaking
//! TLS with certificates from a test CA (rcgen), counting requests.

mod support;

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::STANDARD_NO_PAD};
use hyper::{StatusCode, Version};
use mxgate::{
    client::{ClientOptions, Destination, HttpClient, TlsSettings},
    keyring::{Clock, FetchError, KeySource, Keyring, KeyringError, KeyringSettings, SystemClock},
};
use mxgate_core::{
    config::{Config, SpkiPin, Upstream},
    ids::ServerName,
    keys::build_key_response,
};
use support::{DAY, Env, FakeKeyServer, T0, TestCa, TestClock, json, kid, remote, signing};

#[tokio::test]
async fn fetches_validates_caches_and_persists() {
    let env = Env::new().await;
    env.server.serve(env.response("a", 1, T0 + DAY));
    let keyring = env.keyring();
    let key = keyring.request_key(&remote(), &kid("a")).await.unwrap();
    assert_eq!(key, signing(1).verifying_key());
    assert_eq!(
        keyring.request_key(&remote(), &kid("a")).await.unwrap(),
        key
    );
    assert_eq!(env.server.hits(), 1);
    assert_eq!(*env.server.versions.lock().unwrap(), vec![Version::HTTP_2]);
    assert!(keyring.persistence_enabled());
    assert!(env.state.join("keys/remote.test.json").is_file());
    assert_eq!(keyring.events().fetch_ok.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_fetch() {
    let env = Env::new().await;
    env.server.serve(env.response("a", 1, T0 + DAY));
    *env.server.delay.lock().unwrap() = Duration::from_millis(300);
    let keyring = env.keyring();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let keyring = keyring.clone();
            tokio::spawn(async move { keyring.request_key(&remote(), &kid("a")).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), signing(1).verifying_key());
    }
    assert_eq!(env.server.hits(), 1);
}

#[tokio::test]
async fn unknown_key_id_refetches_once_then_rotation_is_counted() {
    let env = Env::new().await;
    env.server.serve(env.response("a", 1, T0 + DAY));
    let keyring = env.keyring();
    keyring.request_key(&remote(), &kid("a")).await.unwrap();
    env.clock.advance(31_000);
    let err = keyring.request_key(&remote(), &kid("b")).await.unwrap_err();
    assert_eq!(err.reason(), "key_unknown_id");
    assert_eq!(
        env.server.hits(),
        2,
        "an unknown key id triggers one refetch"
    );
    for _ in 0..10 {
        let err = keyring.request_key(&remote(), &kid("b")).await.unwrap_err();
        assert_eq!(err.reason(), "key_unknown_id");
    }
    assert_eq!(env.server.hits(), 2, "refetches are rate limited");
    env.server.serve(env.response("b", 2, T0 + DAY));
    env.clock.advance(31_000);
    let key = keyring.request_key(&remote(), &kid("b")).await.unwrap();
    assert_eq!(key, signing(2).verifying_key());
    assert_eq!(env.server.hits(), 3);
    assert_eq!(keyring.events().rotations.load(Ordering::Relaxed), 1);
    assert_eq!(env.server.connections(), 1, "one pooled connection");
}

#[tokio::test]
async fn key_server_down_keeps_cached_keys_fails_closed_without_storm() {
    let env = Env::new().await;
    env.server.serve(env.response("a", 1, T0 + DAY));
    let keyring = env.keyring();
    keyring.request_key(&remote(), &kid("a")).await.unwrap();
    env.server.fail(StatusCode::SERVICE_UNAVAILABLE);
    env.clock.advance(31_000);
    let err = keyring.request_key(&remote(), &kid("b")).await.unwrap_err();
    assert!(matches!(fetch_error(&err), FetchError::Status(503)));
    for _ in 0..20 {
        assert!(keyring.request_key(&remote(), &kid("b")).await.is_err());
        assert!(keyring.request_key(&remote(), &kid("a")).await.is_ok());
    }
    assert_eq!(env.server.hits(), 2, "no fetch storm while down");
    env.server.serve(env.response("b", 2, T0 + DAY));
    env.clock.advance(31_000);
    let key = keyring.request_key(&remote(), &kid("b")).await.unwrap();
    assert_eq!(key, signing(2).verifying_key());
    assert_eq!(env.server.hits(), 3);
}

#[tokio::test]
async fn failures_back_off_exponentially_and_recover() {
    let env = Env::new().await;
    env.server.fail(StatusCode::BAD_GATEWAY);
    let keyring = env.keyring();
    let (name, id) = (remote(), kid("a"));
    let attempt = || keyring.request_key(&name, &id);
    assert_eq!(attempt().await.unwrap_err().reason(), "key_fetch_status");
    for _ in 0..20 {
        assert_eq!(attempt().await.unwrap_err().reason(), "key_fetch_backoff");
    }
    assert_eq!(env.server.hits(), 1);
    env.clock.advance(2_100); // first backoff: 2 s
    assert_eq!(attempt().await.unwrap_err().reason(), "key_fetch_status");
    env.clock.advance(2_100); // second backoff: 4 s
    assert_eq!(attempt().await.unwrap_err().reason(), "key_fetch_backoff");
    assert_eq!(env.server.hits(), 2);
    env.clock.advance(2_000);
    env.server.serve(env.response("a", 1, T0 + DAY));
    assert!(attempt().await.is_ok());
    assert_eq!(env.server.hits(), 3);
    assert_eq!(keyring.events().fetch_failed.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn invalid_key_responses_are_rejected() {
    let signed_by_other = {
        let mut doc = json(&build_key_response(
            &remote(),
            &kid("a"),
            &signing(1),
            T0 + DAY,
        ));
        doc["verify_keys"]["ed25519:a"]["key"] = STANDARD_NO_PAD
            .encode(signing(9).verifying_key().as_bytes())
            .into();
        serde_json::to_vec(&doc).unwrap()
    };
    let unsigned = {
        let mut doc = json(&build_key_response(
            &remote(),
            &kid("a"),
            &signing(1),
            T0 + DAY,
        ));
        doc.as_object_mut().unwrap().remove("signatures");
        serde_json::to_vec(&doc).unwrap()
    };
    let other = ServerName::parse("other.test").unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("unsigned", unsigned, "unsigned"),
        (
            "signed by another key",
            signed_by_other,
            "bad_self_signature",
        ),
        (
            "wrong server name",
            build_key_response(&other, &kid("a"), &signing(1), T0 + DAY),
            "wrong_server_name",
        ),
        (
            "expired",
            build_key_response(&remote(), &kid("a"), &signing(1), T0 - 1),
            "expired",
        ),
    ];
    for (name, body, expected) in cases {
        let env = Env::new().await;
        env.server.serve(body);
        let err = env
            .keyring()
            .request_key(&remote(), &kid("a"))
            .await
            .unwrap_err();
        let FetchError::Invalid(error) = fetch_error(&err) else {
            panic!("{name}: unexpected {err:?}");
        };
        assert_eq!(error.reason(), expected, "{name}");
        assert_eq!(env.server.hits(), 1, "{name}");
    }
}

#[tokio::test]
async fn huge_key_responses_are_rejected() {
    for chunked in [false, true] {
        let env = Env::new().await;
        let mut body = env.response("a", 1, T0 + DAY);
        body.extend(std::iter::repeat_n(b' ', 100 * 1024));
        env.server.serve(body);
        *env.server.chunked.lock().unwrap() = chunked;
        let err = env
            .keyring()
            .request_key(&remote(), &kid("a"))
            .await
            .unwrap_err();
        assert!(
            matches!(fetch_error(&err), FetchError::TooLarge(65_536)),
            "chunked={chunked}: {err:?}"
        );
    }
}

#[tokio::test]
async fn persisted_keys_need_no_fetch_after_restart() {
    let env = Env::new().await;
    env.server.serve(env.response("a", 1, T0 + DAY));
    env.keyring()
        .request_key(&remote(), &kid("a"))
        .await
        .unwrap();
    let restarted = env.keyring();
    assert_eq!(
        restarted.events().loaded_from_disk.load(Ordering::Relaxed),
        1
    );
    let key = restarted.request_key(&remote(), &kid("a")).await.unwrap();
    assert_eq!(key, signing(1).verifying_key());
    assert_eq!(env.server.hits(), 1, "no fetch after a restart");
}

#[tokio::test]
async fn corrupt_or_tampered_cache_files_are_ignored() {
    let env = Env::new().await;
    env.server.serve(env.response("a", 1, T0 + DAY));
    let file = env.state.join("keys/remote.test.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, b"{not json at all\xff").unwrap();
    let keyring = env.keyring();
    assert_eq!(keyring.events().loaded_from_disk.load(Ordering::Relaxed), 0);
    keyring.request_key(&remote(), &kid("a")).await.unwrap();
    assert_eq!(env.server.hits(), 1);
    // The rewritten file is valid again; tamper with its response's key.
    let mut stored = json(&std::fs::read(&file).unwrap());
    let tampered = stored["response"]
        .as_str()
        .unwrap()
        .replace("ed25519:a", "ed25519:z");
    stored["response"] = tampered.into();
    std::fs::write(&file, serde_json::to_vec(&stored).unwrap()).unwrap();
    let keyring = env.keyring();
    assert_eq!(keyring.events().loaded_from_disk.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn unwritable_state_dir_keeps_keys_in_memory() {
    let env = Env::new().await;
    env.server.serve(env.response("a", 1, T0 + DAY));
    let not_a_dir = env.state.join("file");
    std::fs::create_dir_all(&env.state).unwrap();
    std::fs::write(&not_a_dir, b"").unwrap();
    let keyring = env.keyring_with(&env.ca_file, Some(&not_a_dir), Vec::new());
    assert!(!keyring.persistence_enabled());
    keyring.request_key(&remote(), &kid("a")).await.unwrap();
    keyring.request_key(&remote(), &kid("a")).await.unwrap();
    assert_eq!(env.server.hits(), 1);
}

#[tokio::test]
async fn unknown_servers_and_pinned_keys_send_nothing() {
    let env = Env::new().await;
    env.server.serve(env.response("a", 1, T0 + DAY));
    let keyring = env.keyring();
    let stranger = ServerName::parse("stranger.test").unwrap();
    let err = keyring.request_key(&stranger, &kid("a")).await.unwrap_err();
    assert!(matches!(err, KeyringError::UnknownServer(_)));
    let pinned = ServerName::parse("pinned.test").unwrap();
    let key = keyring.request_key(&pinned, &kid("p")).await.unwrap();
    assert_eq!(key, signing(7).verifying_key());
    let err = keyring.request_key(&pinned, &kid("a")).await.unwrap_err();
    assert_eq!(err.reason(), "key_unknown_id");
    assert_eq!(env.server.hits(), 0);
    assert_eq!(env.server.connections(), 0);
}

#[tokio::test]
async fn certificate_from_another_ca_is_refused() {
    let env = Env::new().await;
    env.server.serve(env.response("a", 1, T0 + DAY));
    let other_ca = TestCa::new("other");
    let other_ca_file = env.ca_file.with_file_name("other-ca.pem");
    std::fs::write(&other_ca_file, other_ca.issuer.pem()).unwrap();
    let keyring = env.keyring_with(&other_ca_file, None, Vec::new());
    let err = keyring.request_key(&remote(), &kid("a")).await.unwrap_err();
    assert_eq!(err.reason(), "tls_handshake", "{err}");
    assert_eq!(env.server.hits(), 0);
}

#[tokio::test]
async fn spki_pins_are_enforced() {
    let env = Env::new().await;
    env.server.serve(env.response("a", 1, T0 + DAY));
    let wrong = env.keyring_with(&env.ca_file, None, vec![SpkiPin([0; 32])]);
    let err = wrong.request_key(&remote(), &kid("a")).await.unwrap_err();
    assert_eq!(err.reason(), "tls_handshake", "{err}");
    let right = env.keyring_with(&env.ca_file, None, vec![env.leaf_pin]);
    right.request_key(&remote(), &kid("a")).await.unwrap();
    assert_eq!(env.server.hits(), 1);
}

#[tokio::test]
async fn keys_expiring_soon_are_refreshed_in_the_background() {
    let env = Env::new().await;
    env.server.serve(env.response("a", 1, T0 + 1_800_000)); // expires in 30 min
    let keyring = env.keyring();
    keyring.request_key(&remote(), &kid("a")).await.unwrap();
    keyring.request_key(&remote(), &kid("a")).await.unwrap();
    assert_eq!(env.server.hits(), 1, "no refresh right after a fetch");
    env.server.serve(env.response("a", 1, T0 + DAY));
    env.clock.advance(31_000);
    keyring.request_key(&remote(), &kid("a")).await.unwrap();
    for _ in 0..100 {
        let refreshed = keyring.cached_keys(&remote()).unwrap().valid_until_ts() == T0 + DAY;
        if refreshed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        keyring.cached_keys(&remote()).unwrap().valid_until_ts(),
        T0 + DAY
    );
    env.clock.advance(31_000);
    keyring.request_key(&remote(), &kid("a")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(env.server.hits(), 2, "one background refresh");
    assert_eq!(keyring.events().rotations.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn homeserver_keys_come_from_its_plain_http_upstream() {
    let server = FakeKeyServer::start(None).await;
    let hs = ServerName::parse("hs.test").unwrap();
    server.serve(build_key_response(&hs, &kid("h"), &signing(3), T0 + DAY));
    let upstream = Upstream::parse(&format!("http://127.0.0.1:{}", server.addr.port())).unwrap();
    let dest = Destination::upstream(hs.clone(), &upstream, &TlsSettings::default()).unwrap();
    let client = HttpClient::new(vec![dest], ClientOptions::default()).unwrap();
    let clock = Arc::new(TestClock(T0.into()));
    let servers = [(hs.clone(), KeySource::Fetch)];
    let keyring = Keyring::new(servers, client, None, clock, KeyringSettings::default());
    let key = keyring.request_key(&hs, &kid("h")).await.unwrap();
    assert_eq!(key, signing(3).verifying_key());
    assert_eq!(server.hits(), 1);
    assert_eq!(*server.versions.lock().unwrap(), vec![Version::HTTP_11]);
}

#[tokio::test]
async fn client_and_keyring_built_from_config() {
    let env = Env::new().await;
    let now = SystemClock.now_ms();
    env.server.serve(env.response("a", 1, now + DAY));
    let hs = ServerName::parse("hs.test").unwrap();
    let hs_server = FakeKeyServer::start(None).await;
    hs_server.serve(build_key_response(&hs, &kid("h"), &signing(3), now + DAY));
    let pinned = STANDARD_NO_PAD.encode(signing(7).verifying_key().as_bytes());
    let text = format!(
        r#"
[gateway]
state_dir = "state"
[inbound]
listen = "127.0.0.1:8448"
[[homeserver]]
server_name = "hs.test"
upstream = "http://127.0.0.1:{hs_port}"
[[remote]]
server_name = "remote.test"
tier = "external"
address = "127.0.0.1:{remote_port}"
ca = "ca.pem"
spki_pins = ["{pin}"]
[[remote]]
server_name = "pinned.test"
tier = "external"
address = "127.0.0.1:9"
keys = {{ "ed25519:p" = "{pinned}" }}
"#,
        hs_port = hs_server.addr.port(),
        remote_port = env.server.addr.port(),
        pin = env.leaf_pin,
    );
    let config = Config::from_toml_str(&text, &env.dir).unwrap();
    let client = HttpClient::from_config(&config).unwrap();
    let keyring = Keyring::from_config(&config, client, Arc::new(SystemClock));
    let key = keyring.request_key(&hs, &kid("h")).await.unwrap();
    assert_eq!(key, signing(3).verifying_key());
    let key = keyring.request_key(&remote(), &kid("a")).await.unwrap();
    assert_eq!(key, signing(1).verifying_key());
    let pinned = ServerName::parse("pinned.test").unwrap();
    assert_eq!(
        keyring.request_key(&pinned, &kid("p")).await.unwrap(),
        signing(7).verifying_key()
    );
    assert_eq!((hs_server.hits(), env.server.hits()), (1, 1));
    assert!(env.dir.join("state/keys/hs.test.json").is_file());
    assert!(env.dir.join("state/keys/remote.test.json").is_file());
}

#[tokio::test]
async fn slow_key_server_times_out() {
    let env = Env::new().await;
    env.server.serve(env.response("a", 1, T0 + DAY));
    *env.server.delay.lock().unwrap() = Duration::from_millis(500);
    let keyring = env.keyring_with_settings(KeyringSettings {
        fetch_timeout: Duration::from_millis(100),
        ..KeyringSettings::default()
    });
    let started = std::time::Instant::now();
    let err = keyring.request_key(&remote(), &kid("a")).await.unwrap_err();
    assert_eq!(err.reason(), "key_fetch_timeout");
    assert!(started.elapsed() < Duration::from_millis(450));
}

/// The fetch failure inside `err` (panics on any other error).
fn fetch_error(err: &KeyringError) -> &FetchError {
    match err {
        KeyringError::Fetch { source, .. } => source,
        other => panic!("not a fetch error: {other:?}"),
    }
}
