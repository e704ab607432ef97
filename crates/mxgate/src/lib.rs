//! mxgate: a Matrix federation border gateway (the I/O shell around
//! `mxgate-core`).
//!
//! # Layout
//! Being written; see the crate's modules.
#![forbid(unsafe_code)]
