//! regwarden keeps an OAuth authorization server's dynamic client registrations (RFC 7591)
//! clean and governed. The pipeline, stage by stage:
//!
//! - [`source`]: read the AS's client store in bounded batches, read-only (Hydra, JSON Lines).
//! - [`normalize`]: any JSON in, bounded RFC 7591 metadata and readable warnings out.
//! - [`scan`]: one pass over a store: normalize, record, follow usage, mark what is gone.
//! - [`state`]: the state database (SQLite or PostgreSQL) with scans and registrations.
//! - [`metrics`], [`http`]: Prometheus metrics and the `/metrics`, `/healthz`, `/readyz`
//!   endpoints; [`daemon`] schedules the scans; [`report`] summarizes the state.
//! - [`policy`]: a pure function from registrations, rules and time to planned actions;
//!   [`act`] carries them out through the AS's admin API, journaled in the state database;
//!   [`quarantine`] is what a quarantine changes on a Hydra client and how it is undone.
//! - [`config`]: the TOML configuration, checked whole at load; [`cli`] the commands.
//!
//! Attacker-controlled text is displayed only through [`escape`].

pub mod act;
pub mod cmd;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod escape;
pub mod http;
pub mod metrics;
pub mod model;
pub mod normalize;
pub mod offline;
pub mod policy;
pub mod quarantine;
pub mod refresh;
pub mod report;
pub mod score;
pub mod secret;
pub mod source;
pub mod state;
