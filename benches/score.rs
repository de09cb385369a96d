//! Score plus fingerprint throughput on the demo population, one core.
//!
//!   cargo bench --bench score            (median of 7 runs over 100,000 registrations)
//!
//! Each run does what a store judgement does per registration: the first pass (fingerprint
//! and catalog match, building families) and the second (every rule, the verdict).

use chrono::Utc;
use regwarden::model::{ClientMetadata, Origin, Registration, Usage};
use regwarden::score::family::FamilyIndex;
use regwarden::score::Scorer;
use std::time::Instant;

fn population(n: usize) -> Vec<Registration> {
    let now = Utc::now();
    regwarden::demo::generate(n, now)
        .into_iter()
        .map(|c| Registration {
            client_id: c.client_id,
            metadata: ClientMetadata {
                client_name: Some(c.client_name),
                redirect_uris: c.redirect_uris,
                grant_types: c.grant_types,
                response_types: vec!["code".into()],
                token_endpoint_auth_method: c.auth_method,
                scope: Some(c.scope),
                client_uri: c.client_uri,
                logo_uri: c.logo_uri,
                ..Default::default()
            },
            created_at: Some(c.created_at),
            created_from: Some(regwarden::model::CreatedFrom::Store),
            updated_at: Some(c.created_at),
            usage: c
                .uses
                .iter()
                .max()
                .map(|t| Usage::LastUsed(*t))
                .unwrap_or(Usage::Never),
            origin: if c.admin { Origin::Admin } else { Origin::Dcr },
        })
        .collect()
}

fn main() {
    // `cargo bench` passes --bench; under `cargo test --all-targets` this is only a smoke run.
    let measuring = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("BENCH_REGISTRATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if measuring { 100_000 } else { 2_000 });
    let runs = if measuring { 7 } else { 1 };
    let regs = population(n);
    let scorer = Scorer::with_defaults();
    let now = Utc::now();
    let mut rates = Vec::new();
    let mut flagged = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let mut families = FamilyIndex::default();
        for r in &regs {
            scorer.observe(&mut families, r);
        }
        families.freeze();
        flagged = 0;
        for r in &regs {
            let v = scorer.judge(r, &families, now);
            flagged += (v.score >= 30) as usize;
        }
        rates.push(n as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "score+fingerprint: {n} registrations, median {:.0}/s (min {:.0}, max {:.0}) over {runs} runs; {flagged} flagged",
        rates[runs / 2],
        rates[0],
        rates[runs - 1]
    );
}

// The allocator the regwarden binary uses (src/main.rs), so that this measures what it does.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
