//! Reading the document's shape: TOML syntax and serde, with key paths.

use super::raw::RawConfig;
use super::{ConfigProblem, ProblemKind};

/// Reads the document's shape; the first syntax or shape error stops it.
pub(super) fn read_raw(text: &str) -> Result<RawConfig, ConfigProblem> {
    let de = toml::Deserializer::parse(text).map_err(|e| toml_problem(String::new(), &e, text))?;
    serde_path_to_error::deserialize(de)
        .map_err(|e| toml_problem(render_path(e.path()), e.inner(), text))
}

fn toml_problem(path: String, err: &toml::de::Error, text: &str) -> ConfigProblem {
    let line = err.span().map(|span| {
        text.bytes()
            .take(span.start)
            .filter(|&b| b == b'\n')
            .count()
            + 1
    });
    ConfigProblem::new(
        path,
        ProblemKind::Toml {
            line,
            message: err.message().trim().to_owned(),
        },
    )
}

/// Renders a serde path as `remote[1].keys."ed25519:a_1"`.
fn render_path(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key }
            | serde_path_to_error::Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&quote_key(key));
            }
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    out
}

/// A TOML key as written in a key path: bare when possible, else quoted.
pub(super) fn quote_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}
