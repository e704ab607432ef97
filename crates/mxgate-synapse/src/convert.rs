//! Plain data from Python (as JSON values) to the policy's typed values, and
//! the policy's answers back to plain data.
//!
//! Every function here is pure, so the conversions are tested without a
//! Python interpreter. Power-level semantics follow
//! <https://spec.matrix.org/v1.16/client-server-api/#mroompower_levels>.

use mxgate_core::ids::{IdError, UserId};
use mxgate_core::policy::{
    Denied, JoinRule, Membership, Permit, PowerLevels, Profile, RoomState, RoomTrust,
    TrustSettings, access_rule_open,
};
use serde::Deserialize;
use serde_json::{Map, Value};

/// A refusal as handed to Python: `(rule, errcode, message)`.
pub type Refusal = (&'static str, &'static str, String);

/// Plain data that does not fit the expected shape.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The value's overall shape is wrong (missing key, wrong type, ...).
    #[error("invalid {what}: {source}")]
    Shape {
        /// What was being read, e.g. "room state".
        what: &'static str,
        /// The JSON reader's explanation.
        source: serde_json::Error,
    },
    /// A string that is not a valid user id.
    #[error("invalid user id {value:?}: {source}")]
    UserId {
        /// The offending string.
        value: String,
        /// Why it was refused.
        source: IdError,
    },
    /// A membership that is not one of the spec's values.
    #[error("invalid membership {0:?} (expected join, invite, leave, ban or knock)")]
    Membership(String),
    /// A power level that is not an integer (or a string holding one).
    #[error("invalid power level at {key}: {value}")]
    Level {
        /// Where the level was, e.g. `users_default` or `users.@a:b`.
        key: String,
        /// The offending value.
        value: Value,
    },
}

impl ConvertError {
    /// Stable snake_case label.
    pub fn reason(&self) -> &'static str {
        match self {
            ConvertError::Shape { .. } => "invalid_shape",
            ConvertError::UserId { .. } => "invalid_user_id",
            ConvertError::Membership(_) => "invalid_membership",
            ConvertError::Level { .. } => "invalid_power_level",
        }
    }
}

/// The room state as the Python side passes it.
///
/// ```json
/// {"join_rule": "invite", "access_rule": "unrestricted",
///  "members": {"@a:hs1": "join", "@b:ext": "invite"},
///  "power_levels": {"users": {"@a:hs1": 100}}, "creators": ["@a:hs1"]}
/// ```
///
/// `join_rule` is `content.join_rule` of `m.room.join_rules` (absent: `invite`);
/// `access_rule` is `content.rule` of the configured access-rules event;
/// `power_levels` is the content of `m.room.power_levels`, `null` when the room
/// has none (then `creators` are at level 100 and everyone else at 0).
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct StateInput {
    #[serde(default)]
    join_rule: Option<String>,
    #[serde(default)]
    access_rule: Option<String>,
    #[serde(default)]
    members: Value,
    #[serde(default)]
    power_levels: Option<Value>,
    #[serde(default)]
    creators: Vec<String>,
}

/// A display name and avatar, owned (see [`mxgate_core::policy::Profile`]).
#[derive(Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedProfile {
    /// `content.displayname`.
    #[serde(default)]
    pub displayname: Option<String>,
    /// `content.avatar_url`.
    #[serde(default)]
    pub avatar_url: Option<String>,
}

impl OwnedProfile {
    /// The borrowed form the rules take.
    pub fn as_profile(&self) -> Profile<'_> {
        Profile {
            displayname: self.displayname.as_deref(),
            avatar_url: self.avatar_url.as_deref(),
        }
    }
}

/// Reads the room state passed by Python.
pub fn room_state(value: Value, settings: &TrustSettings) -> Result<RoomState, ConvertError> {
    let input: StateInput = shape("room state", value)?;
    let power_levels = match &input.power_levels {
        Some(content) => power_levels(content)?,
        None => levels_without_event(&input.creators)?,
    };
    Ok(RoomState {
        join_rule: input
            .join_rule
            .as_deref()
            .map(JoinRule::parse)
            .unwrap_or_default(),
        access_open: access_rule_open(input.access_rule.as_deref(), settings),
        members: members(&input.members)?,
        power_levels,
    })
}

/// Reads `m.room.power_levels` content; missing keys take the spec's defaults
/// and levels may be integers or strings holding integers (room versions
/// before 10 allow both).
pub fn power_levels(content: &Value) -> Result<PowerLevels, ConvertError> {
    let Some(object) = content.as_object() else {
        let source = serde::de::Error::custom("power levels content must be an object");
        return Err(ConvertError::Shape {
            what: "power levels",
            source,
        });
    };
    let mut levels = PowerLevels::default();
    for (key, slot) in [
        ("users_default", &mut levels.users_default),
        ("kick", &mut levels.kick),
        ("ban", &mut levels.ban),
        ("redact", &mut levels.redact),
        ("state_default", &mut levels.state_default),
    ] {
        if let Some(value) = object.get(key) {
            *slot = level(key, value)?;
        }
    }
    for (user, value) in sub_map(object, "users")?.into_iter().flatten() {
        let key = format!("users.{user}");
        levels.users.insert(user_id(user)?, level(&key, value)?);
    }
    for (kind, value) in sub_map(object, "events")?.into_iter().flatten() {
        let key = format!("events.{kind}");
        levels.events.insert(kind.clone(), level(&key, value)?);
    }
    Ok(levels)
}

/// Reads members: an object `{user_id: membership}`, or a list of user ids
/// (all taken as joined); `null` is no member.
pub fn members(value: &Value) -> Result<Vec<(UserId, Membership)>, ConvertError> {
    Ok(match value {
        Value::Null => Vec::new(),
        Value::Object(map) => map
            .iter()
            .map(|(user, membership)| Ok((user_id(user)?, membership_of(membership)?)))
            .collect::<Result<_, ConvertError>>()?,
        Value::Array(users) => users
            .iter()
            .map(|user| match user {
                Value::String(user) => Ok((user_id(user)?, Membership::Join)),
                other => Err(not_a_string("members", other)),
            })
            .collect::<Result<_, ConvertError>>()?,
        other => return Err(not_a_string("members", other)),
    })
}

/// Reads a profile `{"displayname": ..., "avatar_url": ...}` (other keys,
/// e.g. the rest of an `m.room.member` content, are ignored).
pub fn profile(value: Value) -> Result<OwnedProfile, ConvertError> {
    shape("profile", value)
}

/// Parses a user id.
pub fn user_id(value: &str) -> Result<UserId, ConvertError> {
    UserId::parse(value).map_err(|source| ConvertError::UserId {
        value: value.to_owned(),
        source,
    })
}

/// A rule's outcome as handed to Python: `None` when allowed.
pub fn refusal(outcome: Result<Permit, Denied>) -> Option<Refusal> {
    outcome
        .err()
        .map(|denied| (denied.rule.as_str(), denied.errcode, denied.message))
}

/// A room's trust level as the JSON served by the trust endpoint.
pub fn trust_json(trust: &RoomTrust) -> Value {
    let servers = |list: &[mxgate_core::ids::ServerName]| {
        Value::Array(list.iter().map(|s| Value::from(s.as_str())).collect())
    };
    serde_json::json!({
        "level": trust.level.as_str(),
        "servers": {
            "internal": servers(&trust.servers.internal),
            "external": servers(&trust.servers.external),
            "unknown": servers(&trust.servers.unknown),
        },
    })
}

/// Power levels of a room without an `m.room.power_levels` event: the
/// creators at 100, everyone else at 0, `state_default` 0.
fn levels_without_event(creators: &[String]) -> Result<PowerLevels, ConvertError> {
    let mut levels = PowerLevels {
        state_default: 0,
        ..PowerLevels::default()
    };
    for creator in creators {
        levels.users.insert(user_id(creator)?, 100);
    }
    Ok(levels)
}

/// Reads a JSON object (serde would also take an array for a struct) as `T`.
fn shape<T: serde::de::DeserializeOwned>(
    what: &'static str,
    value: Value,
) -> Result<T, ConvertError> {
    if !value.is_object() {
        let source = serde::de::Error::custom(format!("expected an object, found {value}"));
        return Err(ConvertError::Shape { what, source });
    }
    serde_json::from_value(value).map_err(|source| ConvertError::Shape { what, source })
}

fn level(key: &str, value: &Value) -> Result<i64, ConvertError> {
    let parsed = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| ConvertError::Level {
        key: key.to_owned(),
        value: value.clone(),
    })
}

fn sub_map<'a>(
    object: &'a Map<String, Value>,
    key: &'static str,
) -> Result<Option<&'a Map<String, Value>>, ConvertError> {
    Ok(match object.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map),
        Some(other) => {
            let source = serde::de::Error::custom(format!("{key} must be an object, not {other}"));
            let what = "power levels";
            return Err(ConvertError::Shape { what, source });
        }
    })
}

fn membership_of(value: &Value) -> Result<Membership, ConvertError> {
    let text = value.as_str().map(str::to_owned);
    let text = text.unwrap_or_else(|| value.to_string());
    Membership::parse(&text).ok_or(ConvertError::Membership(text))
}

fn not_a_string(what: &'static str, value: &Value) -> ConvertError {
    let source = serde::de::Error::custom(format!("expected user ids, found {value}"));
    ConvertError::Shape { what, source }
}

#[cfg(test)]
mod tests;
