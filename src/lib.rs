//! regwarden keeps an OAuth authorization server's dynamic client registrations (RFC 7591)
//! clean and governed. ARCHITECTURE.md draws the pipeline; the modules, bottom to top:
//!
//! - [`model`], [`escape`], [`secret`]: the plain data every stage shares, safe display of
//!   attacker-controlled text, secrets that never print.
//! - [`normalize`]: any JSON in, bounded RFC 7591 metadata and readable warnings out.
//! - [`score`]: trust verdicts from rules in tiers, the catalog, attestations and families
//!   ([`score::family`]); pure.
//! - [`policy`]: a pure function from registrations, verdicts, rules and time to a plan;
//!   [`quarantine`]: what a quarantine changes on a Hydra client and how it is undone.
//! - [`config`]: the TOML configuration, checked whole at load.
//! - Adapters: [`source`] reads a store read-only in bounded batches (Hydra, JSON Lines);
//!   [`state`] is the state database (SQLite or PostgreSQL) and owns every statement on it;
//!   [`act`] acts through the AS's admin API, journaled and reversible; [`fetch`] is the one
//!   SSRF-safe outbound client, and checks Client ID Metadata Documents with it.
//! - Orchestration: [`refresh`] takes a store to judged state (scan, then judge) for every
//!   caller; [`daemon`] schedules it with [`http`] and [`metrics`]; [`report`], [`offline`]
//!   and [`demo`] summarize, score files and build the demo store; [`systemd`] tells the
//!   service manager about readiness and liveness; [`leader`] elects the one replica that
//!   scans and acts when several share a PostgreSQL state database; [`crash`] is the
//!   debug-build-only fault injection of the crash tests.
//! - [`cmd`]: the command line, one module per subcommand; the only place that prints.

pub mod act;
pub mod cmd;
pub mod config;
pub mod crash;
pub mod daemon;
pub mod demo;
pub mod escape;
pub mod fetch;
pub mod http;
pub mod leader;
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
pub mod systemd;
