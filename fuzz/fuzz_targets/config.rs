//! `mxgate.toml`: `config::Config::from_toml_str` on arbitrary text, with the
//! base directory fixed to `/etc/mxgate`.
//!
//! Invariants: a refusal lists at least one problem, each with a reason label
//! and a message; an accepted configuration has at least one homeserver, finds
//! every homeserver and remote by name, knows the tier of every remote, makes
//! every referenced file absolute, and parses the same way twice.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mxgate_core::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let base_dir = Path::new("/etc/mxgate");
    let config = match Config::from_toml_str(text, base_dir) {
        Ok(config) => config,
        Err(problems) => {
            assert!(!problems.is_empty(), "refused without a problem");
            for problem in &problems {
                assert!(!problem.reason().is_empty());
                assert!(!problem.to_string().is_empty());
            }
            return;
        }
    };
    assert!(
        !config.homeservers.is_empty(),
        "accepted a config without a homeserver"
    );
    for homeserver in &config.homeservers {
        assert!(config.homeserver(homeserver.server_name.as_str()).is_some());
    }
    for remote in &config.remotes {
        assert!(config.remote(remote.server_name.as_str()).is_some());
        assert!(
            config.tier_rights(&remote.tier).is_some(),
            "unknown tier {:?}",
            remote.tier
        );
    }
    for (key, path) in config.referenced_files() {
        assert!(path.is_absolute(), "{key} = {path:?} is not absolute");
    }
    let summary = config.summary();
    let again = Config::from_toml_str(text, base_dir).expect("accepted once, accepted twice");
    assert_eq!(again.summary(), summary);
    assert_eq!(format!("{again:?}"), format!("{config:?}"));
});
