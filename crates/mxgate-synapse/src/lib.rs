//! The Synapse module of mxgate: the trust rules of `mxgate-core`, as the
//! Python extension `mxgate_synapse._core`.
//!
//! The Python package `mxgate_synapse` (in `python/`) is the Synapse module
//! (`TrustModule`): it registers Synapse's callbacks, reads room state and
//! keeps the display-name memory; every decision is taken here, by the same
//! policy engine the gateway uses. This crate only converts plain Python data
//! (dicts, lists, strings) to the core's typed values and back.
//!
//! # Layout
//! - [`load`]: `mxgate.toml` text to the policy (directory, `[trust]`, mode).
//! - [`convert`]: plain data (JSON values) to room state, power levels,
//!   members, profiles; refusals and trust levels back to plain data. Pure.
//! - `py`: the `Policy` Python class and the module (feature-free; built as an
//!   extension module by maturin, see `pyproject.toml`).
#![forbid(unsafe_code)]

pub mod convert;
pub mod load;
mod py;

pub use py::Policy;
