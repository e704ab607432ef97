//! Who is who: internal, trusted external (with a tier) or unknown servers.

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::{ServerName, UserId};

use super::TierRights;

/// The servers our config knows, built by the caller from the config:
/// every `[[homeserver]]` and `[[remote]]` entry with `tier = "internal"` is
/// internal, every other `[[remote]]` is a trusted external of its tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directory {
    internal: BTreeSet<ServerName>,
    external: BTreeMap<ServerName, String>,
    tiers: BTreeMap<String, TierRights>,
}

/// How a server (or a user, by their server) is classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class<'a> {
    /// A server of our federation.
    Internal,
    /// A trusted external server and the rights of its tier.
    External {
        /// The tier's name.
        tier: &'a str,
        /// The tier's rights.
        rights: &'a TierRights,
    },
    /// A server our config does not know.
    Unknown,
}

/// A directory that cannot be built from the config.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// A `[[remote]]` names a tier that is neither built in nor defined.
    #[error("server {server} has tier {tier:?}, which is not defined")]
    UnknownTier {
        /// The remote server.
        server: ServerName,
        /// The tier it names.
        tier: String,
    },
    /// A `[tiers.NAME]` table redefines a built-in tier.
    #[error("tier {0:?} is built in and cannot be redefined")]
    BuiltinTier(String),
    /// A server is listed both as internal and as a trusted external, or as
    /// a trusted external of two tiers.
    #[error("server {0} is listed twice with different tiers")]
    Conflict(ServerName),
}

impl DirectoryError {
    /// Stable snake_case label.
    pub fn reason(&self) -> &'static str {
        match self {
            DirectoryError::UnknownTier { .. } => "unknown_tier",
            DirectoryError::BuiltinTier(_) => "builtin_tier",
            DirectoryError::Conflict(_) => "server_conflict",
        }
    }
}

impl Directory {
    /// An empty directory with the built-in tiers and the `custom` ones.
    pub fn new(custom: BTreeMap<String, TierRights>) -> Result<Self, DirectoryError> {
        let mut tiers = custom;
        for name in [TierRights::INTERNAL_NAME, TierRights::EXTERNAL_NAME] {
            if tiers.contains_key(name) {
                return Err(DirectoryError::BuiltinTier(name.to_owned()));
            }
        }
        tiers.insert(TierRights::EXTERNAL_NAME.to_owned(), TierRights::EXTERNAL);
        Ok(Self {
            internal: BTreeSet::new(),
            external: BTreeMap::new(),
            tiers,
        })
    }

    /// Adds a server of our federation (a `[[homeserver]]`).
    pub fn add_internal(&mut self, server: ServerName) -> Result<(), DirectoryError> {
        if self.external.contains_key(&server) {
            return Err(DirectoryError::Conflict(server));
        }
        self.internal.insert(server);
        Ok(())
    }

    /// Adds a `[[remote]]` server of tier `tier` (`internal` makes it internal).
    pub fn add_remote(&mut self, server: ServerName, tier: &str) -> Result<(), DirectoryError> {
        if tier == TierRights::INTERNAL_NAME {
            return self.add_internal(server);
        }
        if !self.tiers.contains_key(tier) {
            let tier = tier.to_owned();
            return Err(DirectoryError::UnknownTier { server, tier });
        }
        let conflicting = self.internal.contains(&server)
            || self
                .external
                .get(&server)
                .is_some_and(|known| known != tier);
        if conflicting {
            return Err(DirectoryError::Conflict(server));
        }
        self.external.insert(server, tier.to_owned());
        Ok(())
    }

    /// Classifies a server.
    pub fn classify(&self, server: &ServerName) -> Class<'_> {
        if self.internal.contains(server) {
            return Class::Internal;
        }
        let Some((tier, rights)) = self
            .external
            .get(server)
            .and_then(|tier| self.tiers.get_key_value(tier))
        else {
            return Class::Unknown;
        };
        Class::External { tier, rights }
    }

    /// Classifies a user by their server.
    pub fn classify_user(&self, user: &UserId) -> Class<'_> {
        self.classify(user.server_name())
    }

    /// The rights of a tier by name, built-in ones included.
    pub fn tier(&self, name: &str) -> Option<&TierRights> {
        TierRights::builtin(name).or_else(|| self.tiers.get(name))
    }
}

impl<'a> Class<'a> {
    /// The rights of this class; `None` for unknown servers (which have none).
    pub fn rights(&self) -> Option<&'a TierRights> {
        match self {
            Class::Internal => Some(&TierRights::INTERNAL),
            Class::External { rights, .. } => Some(rights),
            Class::Unknown => None,
        }
    }

    /// Whether this is a server of our federation.
    pub fn is_internal(&self) -> bool {
        matches!(self, Class::Internal)
    }
}
