//! The layers over the file: secrets read from files, then environment overrides.

use super::{problem, Problem};
use std::path::Path;

/// Replaces every `KEY_file = "path"` by `KEY = <contents of path>` (trailing newline
/// dropped), so secrets can live in files mounted by the service manager.
pub(super) fn resolve_secret_files(
    table: &mut toml::Table,
    prefix: &str,
    base: &Path,
    problems: &mut Vec<Problem>,
) {
    let keys: Vec<String> = table.keys().cloned().collect();
    for key in keys {
        let full = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match table.get_mut(&key) {
            Some(toml::Value::Table(t)) => resolve_secret_files(t, &full, base, problems),
            Some(toml::Value::Array(items)) => {
                for (i, item) in items.iter_mut().enumerate() {
                    if let toml::Value::Table(t) = item {
                        resolve_secret_files(t, &format!("{full}[{i}]"), base, problems);
                    }
                }
            }
            _ => {}
        }
        let Some(target) = key.strip_suffix("_file") else {
            continue;
        };
        if table.contains_key(target) {
            problems.push(problem(
                &full,
                format!("set both {target} and {key}; keep one"),
            ));
            continue;
        }
        let Some(toml::Value::String(file)) = table.remove(&key) else {
            problems.push(problem(&full, "must be a file path (a string)"));
            continue;
        };
        let file = base.join(file);
        match std::fs::read_to_string(&file) {
            Ok(s) => {
                table.insert(
                    target.to_owned(),
                    toml::Value::String(s.trim_end_matches(['\r', '\n']).to_owned()),
                );
            }
            Err(e) => problems.push(problem(
                &full,
                format!("cannot read {}: {e}", file.display()),
            )),
        }
    }
}

/// Applies `REGWARDEN_SECTION__KEY=value` overrides (`REGWARDEN_STORES__<NAME>__KEY` for a
/// store, by its name). Only variables with `__` are config keys; values that are all digits
/// become integers, `true`/`false` booleans, anything else a string.
pub(super) fn apply_env(
    table: &mut toml::Table,
    env: &[(String, String)],
    problems: &mut Vec<Problem>,
) {
    for (var, value) in env {
        let Some(rest) = var.strip_prefix("REGWARDEN_") else {
            continue;
        };
        if !rest.contains("__") {
            continue;
        }
        let parts: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
        if parts.iter().any(String::is_empty) {
            problems.push(problem(
                var,
                "names an empty section or key; expected REGWARDEN_SECTION__KEY or REGWARDEN_STORES__NAME__KEY",
            ));
            continue;
        }
        let v = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            value
                .parse()
                .map(toml::Value::Integer)
                .unwrap_or_else(|_| toml::Value::String(value.clone()))
        } else if value == "true" || value == "false" {
            toml::Value::Boolean(value == "true")
        } else {
            toml::Value::String(value.clone())
        };
        match parts.as_slice() {
            [section, key] if section != "stores" => {
                let entry = table
                    .entry(section.clone())
                    .or_insert_with(|| toml::Value::Table(Default::default()));
                match entry {
                    toml::Value::Table(t) => {
                        t.insert(key.clone(), v);
                    }
                    _ => problems.push(problem(
                        var,
                        format!("{section} is not a table in the config file"),
                    )),
                }
            }
            [stores, name, key] if stores == "stores" => {
                let store = table
                    .get_mut("stores")
                    .and_then(|s| s.as_array_mut())
                    .and_then(|items| {
                        items.iter_mut().filter_map(|i| i.as_table_mut()).find(|t| {
                            t.get("name")
                                .and_then(|n| n.as_str())
                                .map(|n| n.replace('-', "_").eq_ignore_ascii_case(name))
                                == Some(true)
                        })
                    });
                match store {
                    Some(t) => {
                        t.insert(key.clone(), v);
                    }
                    None => problems.push(problem(
                        var,
                        format!("no store named {name} in the config file"),
                    )),
                }
            }
            _ => problems.push(problem(
                var,
                "expected REGWARDEN_SECTION__KEY or REGWARDEN_STORES__NAME__KEY",
            )),
        }
    }
}
