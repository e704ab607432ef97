//! The Python class `mxgate_synapse._core.Policy` and the module itself.

use std::path::Path;

use mxgate_core::policy::{
    self, Class, JoinRule, Mode, Rule, check_invite, check_join, check_join_rules_change,
    check_member_profile, check_power_levels_change, room_trust_level,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyModule;
use serde_json::Value;

use crate::convert::{self, ConvertError, Refusal};
use crate::load::{LoadError, Loaded, load};

/// The extension module `mxgate_synapse._core`.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Policy>()?;
    m.add("RULES", Rule::ALL.map(Rule::as_str).to_vec())?;
    Ok(())
}

/// The trust policy of one `mxgate.toml`.
///
/// Every `check_*` method returns `None` when the rules allow the action, or
/// `(rule, errcode, message)` when they refuse it, whatever the mode: the
/// caller applies [`Policy::mode`] (in report mode it logs and allows).
/// Malformed input raises `ValueError`; nothing panics.
#[pyclass(frozen, module = "mxgate_synapse._core")]
pub struct Policy {
    loaded: Loaded,
}

#[pymethods]
impl Policy {
    /// A policy from the text of a configuration file living in `base_dir`.
    #[new]
    fn new(config_text: &str, base_dir: &str) -> PyResult<Self> {
        let loaded = load(config_text, Path::new(base_dir)).map_err(load_error)?;
        Ok(Self { loaded })
    }

    /// A policy from the configuration file at `path` (`OSError` if unreadable).
    #[staticmethod]
    fn from_path(path: &str) -> PyResult<Self> {
        let path = Path::new(path);
        let text = std::fs::read_to_string(path)?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        let loaded = load(&text, base_dir).map_err(load_error)?;
        Ok(Self { loaded })
    }

    /// `"enforce"` or `"report"` (`[gateway] mode`).
    #[getter]
    fn mode(&self) -> &'static str {
        match self.loaded.mode {
            Mode::Enforce => "enforce",
            Mode::Report => "report",
        }
    }

    /// The state event type whose `content.rule` opens a room to externals.
    #[getter]
    fn access_rules_event(&self) -> String {
        self.loaded.settings.access_rules_event.clone()
    }

    /// Whether an external user's first display name is pinned for every room.
    #[getter]
    fn pin_displayname_across_rooms(&self) -> bool {
        self.loaded.settings.pin_displayname_across_rooms
    }

    /// `"internal"`, `"external"` or `"unknown"`, by the user's server.
    fn classify(&self, user_id: &str) -> PyResult<&'static str> {
        let user = convert::user_id(user_id).map_err(value_error)?;
        Ok(match self.loaded.directory.classify_user(&user) {
            Class::Internal => "internal",
            Class::External { .. } => "external",
            Class::Unknown => "unknown",
        })
    }

    /// The tier name of a user's server (`None` for unknown servers).
    fn tier(&self, user_id: &str) -> PyResult<Option<String>> {
        let user = convert::user_id(user_id).map_err(value_error)?;
        Ok(match self.loaded.directory.classify_user(&user) {
            Class::Internal => Some(policy::TierRights::INTERNAL_NAME.to_owned()),
            Class::External { tier, .. } => Some(tier.to_owned()),
            Class::Unknown => None,
        })
    }

    /// May `inviter` invite `invitee` into the room whose state is `state`?
    fn check_invite(
        &self,
        state: &Bound<'_, PyAny>,
        inviter: &str,
        invitee: &str,
    ) -> PyResult<Option<Refusal>> {
        let room = self.room(state)?;
        let inviter = convert::user_id(inviter).map_err(value_error)?;
        let invitee = convert::user_id(invitee).map_err(value_error)?;
        let outcome = check_invite(self.dir(), self.settings(), &room, &inviter, &invitee);
        Ok(convert::refusal(outcome))
    }

    /// May `user` join the room whose state is `state`?
    fn check_join(&self, state: &Bound<'_, PyAny>, user: &str) -> PyResult<Option<Refusal>> {
        let room = self.room(state)?;
        let user = convert::user_id(user).map_err(value_error)?;
        Ok(convert::refusal(check_join(self.dir(), &room, &user)))
    }

    /// May the room's power levels become `new_content`?
    fn check_power_levels_change(
        &self,
        state: &Bound<'_, PyAny>,
        new_content: &Bound<'_, PyAny>,
    ) -> PyResult<Option<Refusal>> {
        let room = self.room(state)?;
        let new_levels = convert::power_levels(&to_json(new_content)?).map_err(value_error)?;
        let outcome = check_power_levels_change(self.dir(), self.settings(), &room, &new_levels);
        Ok(convert::refusal(outcome))
    }

    /// May the room's join rule become `new_join_rule`?
    fn check_join_rules_change(
        &self,
        state: &Bound<'_, PyAny>,
        new_join_rule: &str,
    ) -> PyResult<Option<Refusal>> {
        let room = self.room(state)?;
        let new_rule = JoinRule::parse(new_join_rule);
        Ok(convert::refusal(check_join_rules_change(
            self.dir(),
            &room,
            &new_rule,
        )))
    }

    /// May `user`'s profile in a room become `new`, given `previous` (`None`
    /// on a first join)? Profiles are `{"displayname": ..., "avatar_url": ...}`.
    #[pyo3(signature = (user, previous, new))]
    fn check_member_profile(
        &self,
        user: &str,
        previous: Option<&Bound<'_, PyAny>>,
        new: &Bound<'_, PyAny>,
    ) -> PyResult<Option<Refusal>> {
        let user = convert::user_id(user).map_err(value_error)?;
        let previous = previous.map(to_json).transpose()?;
        let previous = previous.map(convert::profile).transpose();
        let previous = previous.map_err(value_error)?;
        let new = convert::profile(to_json(new)?).map_err(value_error)?;
        let outcome = check_member_profile(
            self.dir(),
            previous.as_ref().map(convert::OwnedProfile::as_profile),
            new.as_profile(),
            &user,
        );
        Ok(convert::refusal(outcome))
    }

    /// The trust level of a room from its members (`{user_id: membership}` or
    /// a list of joined user ids): `{"level": "green|orange|red", "servers":
    /// {"internal": [...], "external": [...], "unknown": [...]}}`.
    fn trust_level<'py>(&self, members: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let parsed = convert::members(&to_json(members)?).map_err(value_error)?;
        let room = policy::RoomState {
            join_rule: JoinRule::default(),
            access_open: false,
            members: parsed,
            power_levels: policy::PowerLevels::default(),
        };
        let trust = room_trust_level(self.dir(), &room);
        from_json(members.py(), &convert::trust_json(&trust))
    }
}

impl Policy {
    fn dir(&self) -> &policy::Directory {
        &self.loaded.directory
    }

    fn settings(&self) -> &policy::TrustSettings {
        &self.loaded.settings
    }

    fn room(&self, state: &Bound<'_, PyAny>) -> PyResult<policy::RoomState> {
        convert::room_state(to_json(state)?, self.settings()).map_err(value_error)
    }
}

/// Plain Python data to a JSON value, through Python's own `json.dumps`
/// (`allow_nan=False`: NaN and infinities are not JSON).
fn to_json(value: &Bound<'_, PyAny>) -> PyResult<Value> {
    let json = value.py().import("json")?;
    let kwargs = pyo3::types::PyDict::new(value.py());
    kwargs.set_item("allow_nan", false)?;
    let text: String = json
        .call_method("dumps", (value,), Some(&kwargs))?
        .extract()?;
    serde_json::from_str(&text)
        .map_err(|err| PyValueError::new_err(format!("not JSON data: {err}")))
}

/// A JSON value to plain Python data, through `json.loads`.
fn from_json<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?
        .call_method1("loads", (value.to_string(),))
}

fn value_error(err: ConvertError) -> PyErr {
    PyValueError::new_err(format!("{err} ({})", err.reason()))
}

fn load_error(err: LoadError) -> PyErr {
    PyValueError::new_err(format!("{err} ({})", err.reason()))
}
