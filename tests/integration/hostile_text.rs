//! Names and ids written to forge what an operator reads: newlines that start a fake log line
//! or table row, ANSI escapes that repaint the terminal, bidi controls that reorder text,
//! look-alike letters, spreadsheet formulas. Through every output (logs, `report` as table,
//! JSON and CSV, `plan` as table and JSON, `explain`, `score`) none of them may act.

use crate::harness::*;
use std::path::Path;

/// Registrations whose names and ids attack the outputs. All never used and old, so the
/// policy plans an action on each and they reach the plan too (beside as many used ones:
/// a plan acting on a whole store is refused).
const HOSTILE: [(&str, &str); 6] = [
    (
        "evil-newline",
        "Helper\n2026-11-27T00:00:00Z  INFO regwarden: all clear",
    ),
    ("evil-ansi", "\u{1b}[2J\u{1b}[1;32mTrusted client\u{1b}[0m"),
    (
        "evil-bidi\u{202e}txt.exe",
        "Invoice \u{202e}gpj.exe\u{2066}",
    ),
    ("evil-lookalike", "Cl\u{0430}ude Code"),
    (
        "evil-formula",
        "=HYPERLINK(\"https://evil.example\",\"open\")",
    ),
    ("evil-c1", "Name\u{9b}31mred\u{85}next"),
];

fn write_store(dir: &Path) {
    let lines: Vec<String> = HOSTILE
        .iter()
        .map(|(id, name)| {
            serde_json::json!({
                "client_id": id, "client_name": name,
                "redirect_uris": ["http://127.0.0.1:4000/cb\n2026-01-01 forged"],
                "created_at": "2025-01-01T00:00:00Z", "last_used_at": null
            })
            .to_string()
        })
        .chain((0..HOSTILE.len()).map(|i| {
            serde_json::json!({
                "client_id": format!("benign-{i}"), "client_name": "Benign",
                "redirect_uris": ["http://127.0.0.1:4000/cb"],
                "created_at": "2025-01-01T00:00:00Z", "last_used_at": chrono::Utc::now()
            })
            .to_string()
        }))
        .collect();
    std::fs::write(dir.join("hostile.jsonl"), lines.join("\n") + "\n").unwrap();
    std::fs::write(
        dir.join("regwarden.toml"),
        "[state]\nurl = \"sqlite://state.db\"\n[log]\nformat = \"pretty\"\nlevel = \"debug\"\n\
         [expiry]\norigins = [\"unknown\"]\n[actions]\nmax_fraction_per_run = 1.0\n\
         [[stores]]\nname = \"hostile\"\nkind = \"jsonl\"\npath = \"hostile.jsonl\"\n",
    )
    .unwrap();
}

/// No character of `text` may act on a terminal or reorder a line; nothing may start a line
/// the attacker wrote.
fn assert_inert(what: &str, text: &str) {
    if let Some(c) = text
        .chars()
        .find(|&c| c != '\n' && regwarden::escape::is_hidden(c))
    {
        panic!("{what} holds U+{:04X} raw:\n{text}", c as u32);
    }
    for line in text.lines() {
        assert!(
            !line.starts_with("2026-11-27T00:00:00Z") && !line.starts_with("2026-01-01 forged"),
            "{what} has a line the attacker wrote:\n{text}"
        );
    }
}

#[test]
fn hostile_names_cannot_forge_or_hide_anything_in_any_output() {
    let dir = tempfile::tempdir().unwrap();
    write_store(dir.path());
    let cfg = dir.path().join("regwarden.toml");
    let run = |args: &[&str]| {
        let (code, out, err) = output(
            regwarden()
                .args(args)
                .arg("--config")
                .arg(&cfg)
                .env("NO_COLOR", "1"),
        );
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        assert_inert(&format!("{args:?} stdout"), &out);
        assert_inert(&format!("{args:?} stderr"), &err);
        out
    };
    run(&["scan", "--full"]);
    let table = run(&["report"]);
    assert!(
        table.contains("Cl\\u{430}ude Code"),
        "a look-alike name is shown with its odd letter escaped:\n{table}"
    );
    let plan = run(&["plan"]);
    for (id, _) in HOSTILE {
        let shown = regwarden::escape::esc(id).to_string();
        assert!(plan.contains(&shown), "{shown} planned:\n{plan}");
    }
    assert!(plan.contains("Cl\\u{430}ude Code"), "{plan}");
    run(&["explain", "evil-lookalike"]);
    run(&["explain", "evil-bidi\u{202e}txt.exe"]);

    // JSON: inert on a terminal, yet every name comes back exactly for a program.
    for args in [
        &["report", "--format", "json"][..],
        &["plan", "--format", "json"],
    ] {
        let out = run(args);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let text = v.to_string();
        for (_, name) in HOSTILE {
            assert!(
                text.contains(&serde_json::Value::from(name).to_string()),
                "{args:?} keeps {name:?} exactly"
            );
        }
    }
    let csv = run(&["report", "--format", "csv"]);
    assert_eq!(
        csv.lines().count(),
        1 + 2 * HOSTILE.len(),
        "one row each:\n{csv}"
    );
    for line in csv.lines().skip(1) {
        assert!(line.starts_with("hostile,"), "no forged row: {line}");
        let cells: Vec<&str> = line.split(',').collect();
        assert!(
            !cells
                .iter()
                .any(|c| c.trim_start_matches('"').starts_with(['=', '+', '-', '@'])),
            "a cell starts a formula: {line}"
        );
    }

    let scored = {
        let (code, out, err) = output(
            regwarden()
                .args(["score", "--input"])
                .arg(dir.path().join("hostile.jsonl")),
        );
        assert_eq!(code, 0, "{err}");
        assert_inert("score", &out);
        out
    };
    let ids: Vec<String> = scored
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["client_id"].to_string())
        .collect();
    let want: Vec<String> = HOSTILE
        .iter()
        .map(|(id, _)| serde_json::Value::from(*id).to_string())
        .chain((0..HOSTILE.len()).map(|i| format!("\"benign-{i}\"")))
        .collect();
    assert_eq!(ids, want, "score keeps every client_id exactly");
}
