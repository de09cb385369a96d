//! Keycloak (26.x) store reader: one realm's clients, read-only from Keycloak's own tables on
//! PostgreSQL or MySQL/MariaDB.
//!
//! Every scan is full, paging by the client's internal id (Keycloak keeps no modification
//! time before 26.7, and none indexed after). Per page, three more reads by that id fetch the
//! redirect URIs, web origins and attributes; usage comes from the realm's stored events
//! (`CODE_TO_TOKEN`, `REFRESH_TOKEN`, `CLIENT_LOGIN`: read once per scan, since
//! `event_entity` has no index on the client), persisted sessions and consents. Built-in
//! clients are counted for capacity and never handed over.
//!
//! Usage is "never" only where a use would have left a durable trace: a consent (every
//! authorization of a consent-required client stores one, and Keycloak's anonymous
//! registration policy forces consent), or a stored `CODE_TO_TOKEN` event in a realm that
//! saves them and keeps them at least as long as the expiry windows. Otherwise it is unknown,
//! and expiry never acts on unknown usage.

pub mod api;
mod events;
mod pager;
mod record;

pub use events::EventSettings;
pub use pager::KeycloakPager;
use pager::ScanFacts;

use super::sql::{column_text, connect_read_only, Dialect, ParamType};
use super::{SourceError, SourceRecord};
pub use crate::act::keycloak::BUILT_IN;
use crate::secret::Secret;
use chrono::{DateTime, Utc};
use record::{Column, COLUMNS};
use sqlx::any::AnyRow;
use sqlx::AnyPool;
use std::collections::HashMap;
use std::time::Duration;

/// Event types that are a use of the client. `CLIENT_LOGIN` counts when present (a service
/// account's token) but is never the only evidence looked for.
const USE_EVENTS: [&str; 3] = ["CODE_TO_TOKEN", "REFRESH_TOKEN", "CLIENT_LOGIN"];

/// The realm's registration cap and how much of it is used, counted as Keycloak counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// The smallest Max Clients limit among the realm's registration policies, if any.
    pub limit: Option<u64>,
    /// Every client of the realm, built-in ones included.
    pub used: u64,
}

pub struct KeycloakSource {
    pool: AnyPool,
    dialect: Dialect,
    realm: String,
    realm_id: String,
    batch_size: u32,
    has_created_timestamp: bool,
    /// Whether the grants let regwarden read these (an operator may withhold them: they
    /// hold secrets in other rows). Without them: no attributes, no Max Clients limit.
    attributes_readable: bool,
    components_readable: bool,
    pub events: EventSettings,
    /// The longest expiry window, for telling whether events cover it.
    window: Duration,
}

impl KeycloakSource {
    /// Connects read-only and finds the realm.
    pub async fn open(
        url: &Secret,
        realm: &str,
        batch_size: u32,
        window: Duration,
    ) -> Result<KeycloakSource, SourceError> {
        let shown = url.redacted_url();
        let (pool, dialect) = connect_read_only(url).await?;
        let not_keycloak = |e: sqlx::Error| SourceError::NotKeycloak {
            url: shown.clone(),
            reason: e.to_string(),
        };
        let d = dialect;
        let row = sqlx::query(&format!(
            "SELECT {}, {}, {} FROM {} WHERE name = {}",
            d.text("id"),
            flag("events_enabled"),
            d.text("events_expiration"),
            table(d, "realm"),
            d.param(1, ParamType::Text)
        ))
        .bind(realm)
        .fetch_optional(&pool)
        .await
        .map_err(not_keycloak)?
        .ok_or_else(|| SourceError::NotKeycloak {
            url: shown.clone(),
            reason: format!("it has no realm named {:?}", crate::escape::esc(realm)),
        })?;
        let realm_id = column_text(&row, 0).unwrap_or_default();
        let expiration = column_text(&row, 2)
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|&s| s > 0)
            .map(Duration::from_secs);
        let types = sqlx::query(&format!(
            "SELECT {} FROM {} WHERE realm_id = {}",
            d.text("value"),
            table(d, "realm_enabled_event_types"),
            d.param(1, ParamType::Text)
        ))
        .bind(&realm_id)
        .fetch_all(&pool)
        .await
        .map_err(not_keycloak)?
        .iter()
        .filter_map(|r| column_text(r, 0))
        .collect();
        let events = EventSettings {
            enabled: column_text(&row, 1).as_deref() == Some("1"),
            expiration,
            types,
        };
        // Keycloak 26.7 added the creation column; older schemas read NULL in its place.
        let has_created_timestamp = sqlx::query(&format!(
            "SELECT created_timestamp FROM {} WHERE 1 = 0",
            table(d, "client")
        ))
        .fetch_all(&pool)
        .await
        .is_ok();
        let readable = |t: &'static str, cols: &'static str| {
            let sql = format!("SELECT {cols} FROM {} WHERE 1 = 0", table(d, t));
            let pool = &pool;
            async move {
                match sqlx::query(&sql).fetch_all(pool).await {
                    Ok(_) => Ok(true),
                    Err(e) if is_denied(&e) => Ok(false),
                    Err(e) => Err(query(t)(e)),
                }
            }
        };
        let attributes_readable = readable("client_attributes", "client_id, name, value").await?;
        let components_readable = readable("component_config", "component_id, name, value").await?;
        let src = KeycloakSource {
            pool,
            dialect,
            realm: realm.to_owned(),
            realm_id,
            batch_size,
            has_created_timestamp,
            attributes_readable,
            components_readable,
            events,
            window,
        };
        sqlx::query(&format!(
            "SELECT * FROM ({}) probe WHERE 1 = 0",
            src.select_clients(false)
        ))
        .bind(&src.realm_id)
        .fetch_all(&src.pool)
        .await
        .map_err(not_keycloak)?;
        Ok(src)
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// What an operator should know about this realm's usage facts and what the grants
    /// withhold, if anything.
    pub fn notice(&self) -> Option<String> {
        let mut notes: Vec<String> = self
            .events
            .notice(&self.realm, self.window)
            .into_iter()
            .collect();
        if !self.attributes_readable {
            notes.push("client_attributes is not readable: no logo, policy or terms URIs, no secret creation times".into());
        }
        if !self.components_readable {
            notes.push("component_config is not readable: the realm's Max Clients limit is unknown (set capacity in the config)".into());
        }
        (!notes.is_empty()).then(|| notes.join("; "))
    }

    pub fn pager(&self) -> KeycloakPager<'_> {
        KeycloakPager::new(self)
    }

    /// The realm's Max Clients limit and its use.
    pub async fn capacity(&self) -> Result<Capacity, SourceError> {
        let d = self.dialect;
        let limits = if !self.components_readable {
            Vec::new()
        } else {
            sqlx::query(&format!(
                "SELECT {} FROM {} c JOIN {} cc ON cc.component_id = c.id
             WHERE c.realm_id = {} AND c.provider_id = 'max-clients' AND cc.name = 'max-clients'",
                d.text("cc.value"),
                table(d, "component"),
                table(d, "component_config"),
                d.param(1, ParamType::Text)
            ))
            .bind(&self.realm_id)
            .fetch_all(&self.pool)
            .await
            .map_err(query("component_config"))?
        };
        let limit = limits
            .iter()
            .filter_map(|r| column_text(r, 0)?.trim().parse::<u64>().ok())
            .min();
        let row = sqlx::query(&format!(
            "SELECT {} FROM {} WHERE realm_id = {}",
            d.text("COUNT(*)"),
            table(d, "client"),
            d.param(1, ParamType::Text)
        ))
        .bind(&self.realm_id)
        .fetch_one(&self.pool)
        .await
        .map_err(query("client"))?;
        let used = column_text(&row, 0)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok(Capacity { limit, used })
    }

    fn select_clients(&self, after: bool) -> String {
        let d = self.dialect;
        let cols: Vec<String> = COLUMNS
            .iter()
            .map(|c| match *c {
                Column::Text("created_timestamp") if !self.has_created_timestamp => "NULL".into(),
                Column::Text(name) => d.text(name),
                Column::Flag(name) => flag(name),
                Column::IsSet(name) => {
                    format!("CASE WHEN {name} IS NULL THEN '0' ELSE '1' END")
                }
            })
            .collect();
        let realm = d.param(1, ParamType::Text);
        let after = if after {
            format!(" AND id > {}", d.param(2, ParamType::Text))
        } else {
            String::new()
        };
        format!(
            "SELECT {} FROM {} WHERE realm_id = {realm}{after} ORDER BY id LIMIT {}",
            cols.join(", "),
            table(d, "client"),
            self.batch_size
        )
    }

    /// `SELECT client_id, <cols> FROM table WHERE client_id IN (ids)` for one page.
    async fn by_client(
        &self,
        table_name: &'static str,
        cols: &[String],
        extra: &str,
        ids: &[String],
    ) -> Result<Vec<AnyRow>, SourceError> {
        let d = self.dialect;
        let list: Vec<String> = (0..ids.len())
            .map(|i| d.param(i + 1, ParamType::Text))
            .collect();
        let sql = format!(
            "SELECT {}, {} FROM {} WHERE client_id IN ({}){extra}",
            d.text("client_id"),
            cols.join(", "),
            table(d, table_name),
            list.join(",")
        );
        let mut q = sqlx::query(&sql);
        for id in ids {
            q = q.bind(id);
        }
        q.fetch_all(&self.pool).await.map_err(query(table_name))
    }

    /// Per scan: first `CLIENT_REGISTER` and last use event of every client of the realm, by
    /// OAuth client id (event times are epoch milliseconds).
    async fn event_times(&self) -> Result<ScanFacts, SourceError> {
        let mut facts = ScanFacts::default();
        if !self.events.enabled {
            return Ok(facts);
        }
        let d = self.dialect;
        let uses: Vec<String> = USE_EVENTS.iter().map(|t| format!("'{t}'")).collect();
        for (agg, types, into_register) in [
            ("MIN", "'CLIENT_REGISTER'".to_owned(), true),
            ("MAX", uses.join(","), false),
        ] {
            let rows = sqlx::query(&format!(
                "SELECT {}, {} FROM {} WHERE realm_id = {} AND type IN ({types})
                 AND client_id IS NOT NULL GROUP BY client_id",
                d.text("client_id"),
                d.text(&format!("{agg}(event_time)")),
                table(d, "event_entity"),
                d.param(1, ParamType::Text)
            ))
            .bind(&self.realm_id)
            .fetch_all(&self.pool)
            .await
            .map_err(query("event_entity"))?;
            for r in &rows {
                let (Some(id), Some(t)) = (column_text(r, 0), column_text(r, 1)) else {
                    continue;
                };
                let Some(t) = t.parse().ok().and_then(DateTime::from_timestamp_millis) else {
                    continue;
                };
                let map = if into_register {
                    &mut facts.registered
                } else {
                    &mut facts.used
                };
                map.insert(id, t);
            }
        }
        Ok(facts)
    }

    /// Last use of each client of a page (by internal id) from persisted sessions and consents.
    async fn session_uses(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, DateTime<Utc>>, SourceError> {
        let d = self.dialect;
        let mut out: HashMap<String, DateTime<Utc>> = HashMap::new();
        let mut merge = |rows: Vec<AnyRow>, millis: bool| {
            for r in rows {
                let (Some(id), Some(t)) = (column_text(&r, 0), column_text(&r, 1)) else {
                    continue;
                };
                let Ok(n) = t.parse::<i64>() else { continue };
                let t = if millis {
                    DateTime::from_timestamp_millis(n)
                } else {
                    DateTime::from_timestamp(n, 0)
                };
                if let Some(t) = t {
                    let e = out.entry(id).or_insert(t);
                    *e = (*e).max(t);
                }
            }
        };
        // Session timestamps are epoch seconds, consent dates epoch milliseconds.
        let rows = self
            .by_client(
                "offline_client_session",
                &[d.text("MAX(timestamp)")],
                " GROUP BY client_id",
                ids,
            )
            .await?;
        merge(rows, false);
        let rows = self
            .by_client(
                "user_consent",
                &[d.text("MAX(COALESCE(last_updated_date, created_date))")],
                " GROUP BY client_id",
                ids,
            )
            .await?;
        merge(rows, true);
        Ok(out)
    }
}

/// A Keycloak table's name as its migrations created it: upper case on MySQL/MariaDB (whose
/// table names are case-sensitive on Linux), lower case elsewhere.
fn table(d: Dialect, name: &str) -> String {
    match d {
        Dialect::MySql => name.to_ascii_uppercase(),
        _ => name.to_owned(),
    }
}

/// A boolean column as '1' or '0' on every backend (MariaDB keeps Keycloak's booleans as
/// BIT(1), which reads as a byte).
fn flag(col: &str) -> String {
    format!("CASE WHEN {col} THEN '1' ELSE '0' END")
}

/// Whether the database refused a read for lack of privilege (PostgreSQL 42501, MySQL 1142
/// and 1143).
fn is_denied(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => match d.code().as_deref() {
            Some("42501") => true,
            // MySQL reports SQLSTATE 42000 for syntax errors too.
            Some("42000" | "1142" | "1143") => d.message().contains("denied"),
            _ => false,
        },
        _ => false,
    }
}

fn query(what: &'static str) -> impl Fn(sqlx::Error) -> SourceError {
    move |source| SourceError::Query { what, source }
}
