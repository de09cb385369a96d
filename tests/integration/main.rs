//! The integration tests, one binary (as zero2prod's `tests/api/`): one link of the crate, one
//! harness.
//!
//! - `harness`: services from the environment, databases, a running Hydra, DCR through the SDK.
//! - `corpus`: the labeled scoring corpus and the held-out corpus (`tests/heldout`).
//! - `cli`, `cimd`, `daemon`: the binary as an operator runs it; `operator`: version, completions, man
//!   page, NO_COLOR, health check and systemd's notify protocol.
//! - `hydra_stores`: reading a real Hydra on PostgreSQL, MariaDB and SQLite.
//! - `keycloak`: a real Keycloak on PostgreSQL and MariaDB: read, judged, capacity, acted on;
//!   its admin REST API client on its own (`keycloak::admin_api`).
//! - `actions`: acting through Hydra's admin API (enforce, quarantine, restart, the daemon).
//! - `outages`: injected faults (store and state databases cut, admin API 5xx or hanging,
//!   the state disk full) with real servers.
//! - `scoring`, `metamorphic`: scoring quality and ARCHITECTURE.md invariant 10.
//! - `metrics`, `prometheus`: bounded label values; dashboards and alerts on a real Prometheus.
//! - `hostile_text`: names that try to forge or hide output, through every output.
//! - `secrets`: no secret in any output of any command or the daemon (invariant 9).

mod harness;

mod actions;
mod cimd;
mod cli;
mod corpus;
mod daemon;
mod hostile_text;
mod hydra_stores;
mod keycloak;
mod metamorphic;
mod metrics;
mod operator;
mod outages;
mod prometheus;
mod scoring;
mod secrets;
