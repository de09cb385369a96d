//! One `[[stores]]` entry's kind and connection settings, checked: which database a store is
//! read from (or none: then through its admin API), and how regwarden reaches that API.

use super::raw::{resolve_sqlite, RawStore};
use super::{problem, redact_url, Problem, Secret};
use crate::escape::esc;
use std::path::{Path, PathBuf};
use url::Url;

/// The kinds a store can be, as written in `kind`.
pub const KINDS: [&str; 3] = ["hydra", "keycloak", "jsonl"];

#[derive(Debug, Clone)]
pub enum StoreKind {
    /// Ory Hydra: its database when given, else its admin API alone.
    Hydra {
        database_url: Option<Secret>,
        admin_url: Option<Url>,
    },
    /// One Keycloak realm: its database when given, else its admin REST API alone.
    Keycloak {
        realm: String,
        database_url: Option<Secret>,
        admin: Option<KeycloakAdmin>,
    },
    Jsonl {
        path: PathBuf,
    },
}

/// How regwarden signs in to Keycloak's admin REST API: a service-account client of the realm
/// (client credentials grant) with realm-management view-clients, manage-clients and
/// view-events.
#[derive(Debug, Clone)]
pub struct KeycloakAdmin {
    /// Keycloak's base URL (the one `/realms/{realm}` hangs off).
    pub url: Url,
    pub client_id: String,
    pub client_secret: Secret,
}

impl StoreKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            StoreKind::Hydra { .. } => "hydra",
            StoreKind::Keycloak { .. } => "keycloak",
            StoreKind::Jsonl { .. } => "jsonl",
        }
    }

    /// Whether the store is read through its admin API because no database is configured.
    pub fn api_only(&self) -> bool {
        matches!(
            self,
            StoreKind::Hydra {
                database_url: None,
                ..
            } | StoreKind::Keycloak {
                database_url: None,
                ..
            }
        )
    }

    /// Whether an admin API is configured (regwarden acts through nothing else).
    pub fn has_admin_api(&self) -> bool {
        match self {
            StoreKind::Hydra { admin_url, .. } => admin_url.is_some(),
            StoreKind::Keycloak { admin, .. } => admin.is_some(),
            StoreKind::Jsonl { .. } => false,
        }
    }
}

/// Checks one store's kind-specific keys; None (with the problems noted) when unusable.
pub(super) fn store_kind(
    s: &RawStore,
    key: &dyn Fn(&str) -> String,
    base: &Path,
    problems: &mut Vec<Problem>,
) -> Option<StoreKind> {
    let kind = match s.kind.as_deref() {
        Some(k) if KINDS.contains(&k) => k,
        Some(other) => {
            problems.push(problem(
                key("kind"),
                format!("{:?} is not one of {}", esc(other), KINDS.join(", ")),
            ));
            return None;
        }
        None => {
            problems.push(problem(
                key("kind"),
                format!("is required ({})", KINDS.join(", ")),
            ));
            return None;
        }
    };
    // Keys that belong to other kinds.
    let only = |field: &str, set: bool, kinds: &[&str], problems: &mut Vec<Problem>| {
        if set && !kinds.contains(&kind) {
            let names: Vec<String> = kinds.iter().map(|k| format!("{k:?}")).collect();
            problems.push(problem(
                key(field),
                format!("applies to kind {} only", names.join(" and ")),
            ));
        }
    };
    only("path", s.path.is_some(), &["jsonl"], problems);
    only(
        "database_url",
        s.database_url.is_some(),
        &["hydra", "keycloak"],
        problems,
    );
    only(
        "admin_url",
        s.admin_url.is_some(),
        &["hydra", "keycloak"],
        problems,
    );
    only("realm", s.realm.is_some(), &["keycloak"], problems);
    only(
        "admin_client_id",
        s.admin_client_id.is_some(),
        &["keycloak"],
        problems,
    );
    only(
        "admin_client_secret",
        s.admin_client_secret.is_some(),
        &["keycloak"],
        problems,
    );
    match kind {
        "jsonl" => match &s.path {
            Some(p) => Some(StoreKind::Jsonl { path: base.join(p) }),
            None => {
                problems.push(problem(key("path"), "is required for kind \"jsonl\""));
                None
            }
        },
        "hydra" => {
            let database_url =
                database_url(s, key, base, &["postgres", "mysql", "sqlite"], problems)?;
            let admin_url = admin_url(s, key, problems)?;
            if database_url.is_none() && admin_url.is_none() {
                problems.push(problem(
                    key("database_url"),
                    "is required for kind \"hydra\" (or admin_url alone, to read through the admin API)",
                ));
                return None;
            }
            Some(StoreKind::Hydra {
                database_url,
                admin_url,
            })
        }
        _ => {
            let realm = match s.realm.as_deref() {
                Some(r) if !r.is_empty() && r.len() <= 255 && !r.contains('/') => r.to_owned(),
                Some(r) => {
                    problems.push(problem(
                        key("realm"),
                        format!("{:?} is not a realm name", esc(r)),
                    ));
                    return None;
                }
                None => {
                    problems.push(problem(key("realm"), "is required for kind \"keycloak\""));
                    return None;
                }
            };
            // SQLite: Keycloak does not run on it, but the demo's Keycloak-shaped store does.
            let database_url =
                database_url(s, key, base, &["postgres", "mysql", "sqlite"], problems)?;
            let url = admin_url(s, key, problems)?;
            let admin = match (url, &s.admin_client_id, &s.admin_client_secret) {
                (Some(url), Some(client_id), Some(secret)) => Some(KeycloakAdmin {
                    url,
                    client_id: client_id.clone(),
                    client_secret: Secret::new(secret.clone()),
                }),
                (None, None, None) => None,
                (url, id, secret) => {
                    for (k, missing) in [
                        ("admin_url", url.is_none()),
                        ("admin_client_id", id.is_none()),
                        ("admin_client_secret", secret.is_none()),
                    ] {
                        if missing {
                            problems.push(problem(
                                key(k),
                                "is required with the other admin_* keys (admin_url, admin_client_id, admin_client_secret or admin_client_secret_file)",
                            ));
                        }
                    }
                    return None;
                }
            };
            if database_url.is_none() && admin.is_none() {
                problems.push(problem(
                    key("database_url"),
                    "is required for kind \"keycloak\" (or the admin_* keys alone, to read through the admin API)",
                ));
                return None;
            }
            Some(StoreKind::Keycloak {
                realm,
                database_url,
                admin,
            })
        }
    }
}

/// The database URL, if any, checked against the backends the kind is read from.
/// `Err(())`-like: None from the outer Option means the store is unusable.
fn database_url(
    s: &RawStore,
    key: &dyn Fn(&str) -> String,
    base: &Path,
    backends: &[&str],
    problems: &mut Vec<Problem>,
) -> Option<Option<Secret>> {
    let Some(u) = &s.database_url else {
        return Some(None);
    };
    let prefixes: &[(&str, &[&str])] = &[
        ("postgres", &["postgres://", "postgresql://"]),
        ("mysql", &["mysql://", "mariadb://"]),
        ("sqlite", &["sqlite:"]),
    ];
    let fits = prefixes
        .iter()
        .filter(|(b, _)| backends.contains(b))
        .any(|(_, ps)| ps.iter().any(|p| u.starts_with(p)));
    if let (true, Some(why)) = (fits, crate::secret::url_problem(u)) {
        problems.push(problem(key("database_url"), why));
        return None;
    }
    if fits {
        return Some(Some(Secret::new(resolve_sqlite(u, base))));
    }
    let names: Vec<String> = backends.iter().map(|b| format!("{b}:")).collect();
    problems.push(problem(
        key("database_url"),
        format!("{} must be a {} URL", redact_url(u), names.join(", ")),
    ));
    None
}

/// The admin URL, if any (http or https).
fn admin_url(
    s: &RawStore,
    key: &dyn Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) -> Option<Option<Url>> {
    let Some(u) = s.admin_url.as_deref() else {
        return Some(None);
    };
    match Url::parse(u) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(Some(u)),
        _ => {
            problems.push(problem(
                key("admin_url"),
                format!("{:?} is not an http(s) URL", esc(&redact_url(u))),
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{load_str, ConfigError, StoreKind};

    fn kind(store: &str) -> Result<StoreKind, Vec<String>> {
        match load_str(&format!("[[stores]]\nname = \"s\"\n{store}"), None, &[]) {
            Ok(c) => Ok(c.stores[0].kind.clone()),
            Err(ConfigError::Invalid { problems }) => {
                Err(problems.into_iter().map(|p| p.key).collect())
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn unparsable_database_urls_are_named_by_key_never_quoted() {
        let text = "[state]\nurl = \"postgres://rw:Sekr1t@h:99999999/s\"\n\
                    [[stores]]\nname = \"s\"\nkind = \"hydra\"\n\
                    database_url = \"postgres://rw:Sekr1t@[::1/db\"\n";
        match load_str(text, None, &[]) {
            Err(ConfigError::Invalid { problems }) => {
                let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
                assert_eq!(keys, ["state.url", "stores[0].database_url"]);
                for p in &problems {
                    assert!(!p.to_string().contains("Sekr1t"), "{p}");
                }
            }
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn a_keycloak_store_needs_a_realm_and_a_way_to_read_it() {
        let full = "kind = \"keycloak\"\nrealm = \"mcp\"\ndatabase_url = \"postgres://r@h/kc\"\n\
                    admin_url = \"https://sso.example.org\"\nadmin_client_id = \"regwarden\"\n\
                    admin_client_secret = \"s3cret\"\n";
        match kind(full).unwrap() {
            StoreKind::Keycloak {
                realm,
                database_url: Some(_),
                admin: Some(a),
            } => {
                assert_eq!((realm.as_str(), a.client_id.as_str()), ("mcp", "regwarden"));
                assert_eq!(format!("{:?}", a.client_secret), "Secret(***)");
            }
            other => panic!("{other:?}"),
        }
        let api_only =
            "kind = \"keycloak\"\nrealm = \"mcp\"\nadmin_url = \"https://sso.example.org\"\n\
                        admin_client_id = \"regwarden\"\nadmin_client_secret = \"s\"\n";
        assert!(kind(api_only).unwrap().api_only());
        assert_eq!(
            kind("kind = \"keycloak\"\ndatabase_url = \"postgres://h/kc\"\n").unwrap_err(),
            ["stores[0].realm"]
        );
        assert_eq!(
            kind("kind = \"keycloak\"\nrealm = \"mcp\"\n").unwrap_err(),
            ["stores[0].database_url"]
        );
        assert_eq!(
            kind("kind = \"keycloak\"\nrealm = \"mcp\"\ndatabase_url = \"postgres://h/kc\"\nadmin_url = \"https://sso\"\n")
                .unwrap_err(),
            ["stores[0].admin_client_id", "stores[0].admin_client_secret"]
        );
        assert_eq!(
            kind("kind = \"keycloak\"\nrealm = \"a/b\"\ndatabase_url = \"postgres://h/kc\"\n")
                .unwrap_err(),
            ["stores[0].realm"]
        );
    }

    #[test]
    fn keys_of_other_kinds_are_refused() {
        assert_eq!(
            kind("kind = \"hydra\"\ndatabase_url = \"sqlite://x\"\nrealm = \"mcp\"\n").unwrap_err(),
            ["stores[0].realm"]
        );
        assert_eq!(
            kind("kind = \"jsonl\"\npath = \"x\"\nadmin_url = \"http://h\"\n").unwrap_err(),
            ["stores[0].admin_url"]
        );
        assert_eq!(kind("kind = \"auth0\"\n").unwrap_err(), ["stores[0].kind"]);
    }

    #[test]
    fn reads_can_be_paced() {
        let text = "[[stores]]\nname = \"s\"\nkind = \"hydra\"\ndatabase_url = \"sqlite://x\"\n";
        let c = load_str(&format!("{text}rows_per_second = 5000\n"), None, &[]).unwrap();
        assert_eq!(c.stores[0].rows_per_second, Some(5000));
        match load_str(&format!("{text}rows_per_second = 0\n"), None, &[]) {
            Err(ConfigError::Invalid { problems }) => {
                assert_eq!(problems[0].key, "stores[0].rows_per_second")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hydra_reads_through_its_admin_api_without_a_database() {
        assert!(
            kind("kind = \"hydra\"\nadmin_url = \"http://127.0.0.1:4445\"\n")
                .unwrap()
                .api_only()
        );
        assert!(!kind("kind = \"hydra\"\ndatabase_url = \"sqlite://x\"\n")
            .unwrap()
            .api_only());
        assert_eq!(
            kind("kind = \"hydra\"\n").unwrap_err(),
            ["stores[0].database_url"]
        );
    }
}
