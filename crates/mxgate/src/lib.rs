//! mxgate: a Matrix federation border gateway, the I/O shell around
//! `mxgate-core`.
//!
//! # Layout
//! - [`cli`]: the `mxgate` command line (clap).
//! - [`server`]: listeners, TLS accept, HTTP/1.1 + HTTP/2 serving, shutdown.
//! - [`lanes`]: one single-threaded runtime per CPU that serves connections.
//! - [`inbound`]: the inbound request pipeline (route, verify, admit, forward).
//! - [`outbound`]: the outbound federation proxy for our homeservers (pinned destinations).
//! - [`proxy`]: what both pipelines share when passing a request on (body, headers).
//! - [`errors`]: Matrix JSON error responses.
//! - [`metrics`]: Prometheus metrics and the admin listener.
//! - [`audit`]: the JSON audit log of decisions (also feeds the status board).
//! - [`tls`]: rustls configuration (SNI certificates, pinned roots).
//! - [`client`]: pooled HTTP(S) client to upstreams and remotes.
//! - [`keyring`]: server key fetching, caching and persistence.
//! - [`signatures`]: X-Matrix signature checks, batched per lane.
//! - [`keys_cmd`]: `mxgate keys fetch|show`.
//! - [`status`]: the status board (`GET /status`, `GET /`, `mxgate status`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod audit;
pub mod cli;
pub mod client;
pub mod errors;
pub mod inbound;
pub mod keyring;
pub mod keys_cmd;
pub mod lanes;
pub mod metrics;
pub mod outbound;
pub mod proxy;
pub mod server;
pub mod signatures;
pub mod status;
pub mod tls;
