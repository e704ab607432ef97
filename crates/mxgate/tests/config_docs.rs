//! The configuration documentation, the example and the config structs agree.
//!
//! The set of keys each table accepts is asked from the structs themselves: a
//! probe key is put in the table, and the parser's "unknown field, expected
//! one of ..." answer lists every field serde knows. That set must equal the
//! keys documented in `docs/configuration.md` for that table, so adding a
//! field without documenting it (or documenting a key that does not exist)
//! fails this test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use mxgate_core::config::{Config, ProblemKind};

const PROBE: &str = "__probe__";

/// A minimal valid configuration.
const BASE: &str = r#"
[gateway]
state_dir = "state"
[inbound]
listen = "127.0.0.1:8448"
[[homeserver]]
server_name = "a.example"
upstream = "http://127.0.0.1:8008"
"#;

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// One document per table, with the probe key inside that table.
fn probe_documents() -> BTreeMap<&'static str, String> {
    let probe = format!("{PROBE} = 1\n");
    let inside = |header: &str| BASE.replace(&format!("{header}\n"), &format!("{header}\n{probe}"));
    BTreeMap::from([
        ("", format!("{probe}{BASE}")),
        ("gateway", inside("[gateway]")),
        ("inbound", inside("[inbound]")),
        (
            "inbound.tls",
            format!("{BASE}[[inbound.tls]]\ncert = \"c\"\nkey = \"k\"\n{probe}"),
        ),
        ("admin", format!("{BASE}[admin]\n{probe}")),
        ("homeserver", format!("{BASE}{probe}")),
        ("remote", format!("{BASE}[[remote]]\n{probe}")),
        ("outbound", format!("{BASE}[outbound]\n{probe}")),
        ("tiers.NAME", format!("{BASE}[tiers.partner]\n{probe}")),
        ("trust", format!("{BASE}[trust]\n{probe}")),
    ])
}

/// The keys the structs accept, per table, from the parser's own answer.
fn accepted_keys() -> BTreeMap<&'static str, BTreeSet<String>> {
    let mut accepted = BTreeMap::new();
    for (table, document) in probe_documents() {
        let problems = Config::from_toml_str(&document, Path::new("/")).expect_err(table);
        assert_eq!(problems.len(), 1, "{table}: {problems:?}");
        let ProblemKind::Toml { message, .. } = &problems[0].kind else {
            panic!("{table}: not a TOML problem: {problems:?}");
        };
        let (unknown, expected) = message
            .split_once("expected")
            .unwrap_or_else(|| panic!("{table}: {message}"));
        assert!(
            unknown.contains(&format!("unknown field `{PROBE}`")),
            "{table}: {message}"
        );
        let keys = expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        accepted.insert(table, keys);
    }
    accepted
}

/// The keys documented in docs/configuration.md, per table heading.
fn documented_keys() -> BTreeMap<String, BTreeSet<String>> {
    let docs = std::fs::read_to_string(repo_file("docs/configuration.md")).unwrap();
    let mut documented: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in docs.lines() {
        if line.starts_with('#') {
            let code = line.split('`').nth(1).filter(|code| code.starts_with('['));
            current = code.map(|table| table.trim_matches(['[', ']']).to_owned());
            if let Some(table) = &current {
                documented.entry(table.clone()).or_default();
            }
        } else if let (Some(table), Some(row)) = (&current, line.strip_prefix("| `")) {
            let key = row.split('`').next().unwrap().to_owned();
            documented.get_mut(table).unwrap().insert(key);
        }
    }
    let roots: BTreeSet<String> = documented
        .keys()
        .map(|t| t.split('.').next().unwrap().to_owned())
        .collect();
    documented.insert(String::new(), roots);
    documented
}

#[test]
fn documented_keys_are_exactly_the_accepted_keys() {
    let accepted = accepted_keys();
    let documented = documented_keys();
    let accepted_tables: BTreeSet<&str> = accepted.keys().copied().collect();
    let documented_tables: BTreeSet<&str> = documented.keys().map(String::as_str).collect();
    assert_eq!(
        accepted_tables, documented_tables,
        "documented tables differ from probed tables"
    );
    for (table, keys) in &accepted {
        assert!(!keys.is_empty(), "{table}: no key found in the answer");
        let documented = &documented[*table];
        let undocumented: Vec<_> = keys.difference(documented).collect();
        let nonexistent: Vec<_> = documented.difference(keys).collect();
        assert!(
            undocumented.is_empty(),
            "[{table}] keys accepted but not documented: {undocumented:?}"
        );
        assert!(
            nonexistent.is_empty(),
            "[{table}] keys documented but not accepted: {nonexistent:?}"
        );
    }
}

#[test]
fn example_config_is_valid() {
    let path = repo_file("examples/mxgate.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config = Config::from_toml_str(&text, path.parent().unwrap()).unwrap_or_else(|problems| {
        panic!("examples/mxgate.toml: {problems:#?}");
    });
    assert_eq!(config.homeservers.len(), 2);
    assert_eq!(config.remotes.len(), 3);
    assert!(config.tier_rights("local_authority").unwrap().may_moderate);
    assert!(config.gateway.state_dir.ends_with("examples/state"));
}

#[test]
fn check_config_accepts_the_example() {
    let output = Command::new(env!("CARGO_BIN_EXE_mxgate"))
        .args(["check-config", "--config"])
        .arg(repo_file("examples/mxgate.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("mode: enforce") && stdout.contains("tier local_authority:"),
        "{stdout}"
    );
}

#[test]
fn check_config_prints_every_problem_with_its_key_path() {
    let dir = std::env::temp_dir().join(format!("mxgate-config-docs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("present.pem"), "x").unwrap();
    let bad = format!(
        "{BASE}[[inbound.tls]]\ncert = \"missing.crt\"\nkey = \"present.pem\"\n\
         [[remote]]\nserver_name = \"b.example\"\ntier = \"vip\"\naddress = \"b.example\"\n"
    );
    let run = |text: &str| {
        std::fs::write(dir.join("mxgate.toml"), text).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_mxgate"))
            .args(["check-config", "-c"])
            .arg(dir.join("mxgate.toml"))
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (code, stdout) = run(&bad);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("remote[0].tier: unknown tier \"vip\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("remote[0].address: not a valid host:port address"),
        "{stdout}"
    );
    let (code, stdout) = run(&bad
        .replace("vip", "external")
        .replace("\"b.example\"\n", "\"b.example:8448\"\n"));
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("inbound.tls[0].cert: not a valid file:"),
        "{stdout}"
    );
    assert!(!stdout.contains("inbound.tls[0].key"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}
