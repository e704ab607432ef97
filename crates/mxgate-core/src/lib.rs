//! Pure protocol and trust-policy core of mxgate.
//!
//! Everything here is deterministic and free of I/O: no sockets, no files, no
//! tokio, no clock. Functions that need the time take `now` (milliseconds since
//! the Unix epoch) as a parameter. Raw input is parsed into typed values at the
//! boundary, so an invalid server name, key id or header can't be represented
//! past it. The gateway (`mxgate`) and the Synapse module (`mxgate-synapse`)
//! are thin I/O shells around this crate.
//!
//! Spec references are pinned to Matrix spec **v1.16**:
//! <https://spec.matrix.org/v1.16/server-server-api/>.
//!
//! # Layout
//! - [`ids`]: server names, key ids, user/room/event ids (newtypes).
//! - [`json`]: strict JSON parsing (duplicate keys, integer range, floats),
//!   canonical JSON and the one-pass check of already-canonical bodies;
//!   signing and verifying JSON objects.
//! - [`xmatrix`]: the `Authorization: X-Matrix` header, request signing and
//!   verification over the raw request-target; batch signature checks and
//!   their SHA-512 hashes computed side by side (`xmatrix::sha512_lanes`).
//! - [`keys`]: server key documents (`/_matrix/key/v2/server`, notary
//!   responses) and their validity windows.
//! - [`event`]: PDUs: room versions, content hashes, redaction, event
//!   signatures and event ids.
//! - [`txn`]: the `/send` transaction body and its limits.
//! - [`config`]: the `mxgate.toml` schema, shared by the gateway and the Synapse module.
//! - [`endpoints`]: the federation endpoint allow-list and raw-path safety checks.
//! - [`policy`]: the trust model: tiers, room/user rules, room trust levels.
// One `unsafe` call in the whole crate: the AVX-512 SHA-512 lanes
// (`xmatrix/sha512_lanes.rs`), after checking the CPU has the feature.
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod config;
pub mod endpoints;
pub mod event;
pub mod ids;
pub mod json;
pub mod keys;
pub mod policy;
pub mod txn;
pub mod xmatrix;
