//! Configuration problems: what is wrong, and at which key path.

use std::fmt;

/// One problem found in a configuration file, located by its key path.
///
/// The key path uses TOML-like syntax: `remote[1].keys."ed25519:a_1"`
/// (array entries are numbered from 0). It is empty for problems about the
/// whole document (e.g. a TOML syntax error before any key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Where the problem is, e.g. `inbound.listen`.
    pub path: String,
    /// What the problem is.
    pub kind: ProblemKind,
}

/// The kinds of configuration problems.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProblemKind {
    /// The TOML reader refused the document (syntax, unknown key, wrong type,
    /// missing required key). `line` is 1-based when known.
    #[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Toml {
        /// 1-based line of the offending text, if known.
        line: Option<usize>,
        /// The reader's message.
        message: String,
    },
    /// A value that does not parse as the expected kind of value.
    #[error("not a valid {expected}: {detail}")]
    Invalid {
        /// What was expected, e.g. "server name".
        expected: &'static str,
        /// Why the value was refused.
        detail: String,
    },
    /// A key that is required in this context is absent; the text says when
    /// it is required.
    #[error("is required {0}")]
    Missing(&'static str),
    /// A key that must not be set in this context.
    #[error("must not be set {0}")]
    Conflict(&'static str),
    /// A number outside its allowed range.
    #[error("must be {0}")]
    OutOfRange(String),
    /// The same server name appears twice among homeservers and remotes.
    #[error("duplicate server name {name:?} (first at {first})")]
    DuplicateServer {
        /// The repeated server name.
        name: String,
        /// Key path of its first occurrence.
        first: String,
    },
    /// A remote names a tier that is neither built in nor defined.
    #[error("unknown tier {0:?} (use \"internal\", \"external\" or define [tiers.{0}])")]
    UnknownTier(String),
    /// A `[tiers.NAME]` table tries to redefine a built-in tier.
    #[error("the built-in tier {0:?} can't be redefined")]
    BuiltinTier(String),
    /// The configuration fronts no homeserver.
    #[error("at least one [[homeserver]] is required")]
    NoHomeserver,
}

impl ProblemKind {
    /// A stable snake_case label for this kind of problem.
    pub fn reason(&self) -> &'static str {
        match self {
            ProblemKind::Toml { .. } => "toml",
            ProblemKind::Invalid { .. } => "invalid_value",
            ProblemKind::Missing(_) => "missing_key",
            ProblemKind::Conflict(_) => "conflicting_key",
            ProblemKind::OutOfRange(_) => "out_of_range",
            ProblemKind::DuplicateServer { .. } => "duplicate_server",
            ProblemKind::UnknownTier(_) => "unknown_tier",
            ProblemKind::BuiltinTier(_) => "builtin_tier",
            ProblemKind::NoHomeserver => "no_homeserver",
        }
    }
}

impl ConfigProblem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, kind: ProblemKind) -> Self {
        ConfigProblem {
            path: path.into(),
            kind,
        }
    }

    /// A value at `path` that is not a valid `expected`.
    pub fn invalid(
        path: impl Into<String>,
        expected: &'static str,
        detail: impl fmt::Display,
    ) -> Self {
        Self::new(
            path,
            ProblemKind::Invalid {
                expected,
                detail: detail.to_string(),
            },
        )
    }

    /// A stable snake_case label for this problem (see [`ProblemKind::reason`]).
    pub fn reason(&self) -> &'static str {
        self.kind.reason()
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.path, self.kind)
        }
    }
}

impl std::error::Error for ConfigProblem {}
