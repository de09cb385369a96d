//! Configuration loading: any text as the TOML file, plus environment overrides (after a NUL
//! byte, one `SECTION__KEY=value` per line, given the `REGWARDEN_` prefix). Loading either
//! gives a checked Config or problems that name their keys; never a panic.
//!
//!   cd fuzz && cargo fuzz run config      (see fuzz/README.md)
#![no_main]

use libfuzzer_sys::fuzz_target;
use regwarden::config::{load_str, ConfigError};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // `*_file` keys read the named file: keep the fuzzer off devices that never end.
    if ["dev/", "proc/", "sys/"].iter().any(|d| text.contains(d)) {
        return;
    }
    let (toml, env) = text.split_once('\0').unwrap_or((&text, ""));
    let env: Vec<(String, String)> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (format!("REGWARDEN_{k}"), v.to_owned()))
        .collect();
    match load_str(toml, Some(Path::new("fuzz/regwarden.toml")), &env) {
        Ok(cfg) => {
            // What the daemon derives from a checked config must not fail either.
            let now = chrono::Utc::now();
            let _ = cfg.incremental_scans.interval_after(now);
            let _ = cfg.full_scans.interval_after(now);
        }
        Err(ConfigError::Invalid { problems }) => {
            assert!(!problems.is_empty(), "an invalid config names a problem");
            for p in &problems {
                assert!(!p.key.is_empty(), "every problem names its key: {p}");
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
