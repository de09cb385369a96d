//! Parse + normalize + fingerprint + score, with families, on arbitrary input: any bytes
//! must give a verdict or a per-record error, never a panic. Every reason's detail is safe
//! to display (attacker text escaped), and the score is the sum of the reasons.
//!
//!   cd fuzz && cargo fuzz run score      (see fuzz/README.md)
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use regwarden::score::family::FamilyIndex;
use regwarden::score::Scorer;
use regwarden::source::jsonl::parse_line;
use std::sync::OnceLock;

fn scorer() -> &'static Scorer {
    static SCORER: OnceLock<Scorer> = OnceLock::new();
    SCORER.get_or_init(Scorer::with_defaults)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Several lines make a small store, so family rules see neighbours.
    let regs: Vec<_> = text
        .lines()
        .filter_map(|l| parse_line(l, "fuzz".into()).ok())
        .filter_map(|r| r.into_registration().ok())
        .map(|(r, _)| r)
        .collect();
    let mut families = FamilyIndex::default();
    for r in &regs {
        scorer().observe(&mut families, r);
    }
    families.freeze();
    for r in &regs {
        let v = scorer().judge(r, &families, chrono::Utc::now());
        assert_eq!(v.score, v.reasons.iter().map(|x| x.points).sum::<i32>());
        for reason in &v.reasons {
            common::assert_displayable("a reason's detail", &reason.detail);
        }
    }
});
