//! Outbound fetches (invariant 8): the one SSRF-safe HTTP client ([`Fetcher`]), the rules on
//! where it may connect ([`address`]), and what is fetched with it: Client ID Metadata
//! Documents ([`cimd`]). Off unless `[fetch] enabled = true`; `regwarden cimd URL` uses the
//! same client and checks to show an operator what the daemon would conclude.

pub mod address;
pub mod cimd;
mod client;

pub use address::{Refusal, Rule};
pub use cimd::{Cimd, CimdError, Document, Outcome};
pub use client::{
    check_url, freshness, system_lookup, FetchError, Fetched, Fetcher, Lookup, Settings,
};

#[cfg(test)]
mod rules_tests;
#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;
