//! The held-out evaluation corpus (tests/heldout/README.md): built from real clients'
//! registration code and the standards, never tuned on.

use regwarden::model::Registration;
use regwarden::source::jsonl::parse_line;

/// One labeled record.
pub struct Labeled {
    /// The attack class, for attacks.
    pub attack: Option<String>,
    /// The true family, for legitimate registrations.
    pub family: Option<String>,
    pub registration: Registration,
}

pub fn held_out() -> Vec<Labeled> {
    let text = include_str!("../../heldout/corpus.jsonl");
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let rec = parse_line(&v["registration"].to_string(), format!("line {}", i + 1))
                .unwrap_or_else(|e| panic!("heldout line {}: {e:?}", i + 1));
            let text = |k: &str| v[k].as_str().map(str::to_owned);
            Labeled {
                attack: (v["kind"] == "attack").then(|| text("class").unwrap_or_default()),
                family: text("family"),
                registration: rec.into_registration().unwrap().0,
            }
        })
        .collect()
}
