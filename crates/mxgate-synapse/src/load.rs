//! From the text of `mxgate.toml` to the policy the module applies.

use std::path::Path;

use mxgate_core::config::{self, Config, ConfigProblem};
use mxgate_core::policy::{Directory, DirectoryError, Mode, TrustSettings};

/// Everything the trust rules need from the configuration.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// Who is internal, who is a trusted external of which tier.
    pub directory: Directory,
    /// The `[trust]` table.
    pub settings: TrustSettings,
    /// `[gateway] mode`: enforce or report.
    pub mode: Mode,
}

/// A configuration the module cannot use.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file does not validate; every problem is listed.
    #[error("invalid mxgate configuration: {}", join(.0))]
    Config(Vec<ConfigProblem>),
    /// The servers and tiers do not form a consistent directory.
    #[error("inconsistent trust directory: {0}")]
    Directory(#[from] DirectoryError),
}

impl LoadError {
    /// Stable snake_case label.
    pub fn reason(&self) -> &'static str {
        match self {
            LoadError::Config(_) => "invalid_config",
            LoadError::Directory(err) => err.reason(),
        }
    }
}

/// Parses the configuration text (whose file lives in `base_dir`) and builds
/// the policy: every `[[homeserver]]` is internal, every `[[remote]]` is of
/// its `tier`.
pub fn load(text: &str, base_dir: &Path) -> Result<Loaded, LoadError> {
    let config = Config::from_toml_str(text, base_dir).map_err(LoadError::Config)?;
    let mut directory = Directory::new(config.tiers.clone())?;
    for homeserver in &config.homeservers {
        directory.add_internal(homeserver.server_name.clone())?;
    }
    for remote in &config.remotes {
        directory.add_remote(remote.server_name.clone(), &remote.tier)?;
    }
    let mode = match config.gateway.mode {
        config::Mode::Enforce => Mode::Enforce,
        config::Mode::Report => Mode::Report,
    };
    Ok(Loaded {
        directory,
        settings: config.trust,
        mode,
    })
}

fn join(problems: &[ConfigProblem]) -> String {
    let texts: Vec<String> = problems.iter().map(ToString::to_string).collect();
    texts.join("; ")
}

#[cfg(test)]
mod tests;
