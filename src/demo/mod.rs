//! `regwarden demo`: a realistic Hydra store (or Keycloak realm) in SQLite, scanned and
//! reported, no services.
//!
//! The store is created with Hydra v2.3.0's own SQLite schema (as `hydra migrate sql` leaves
//! it) and filled with the population an MCP-facing authorization server really sees:
//! per-install duplicates of the well-known clients, in-house apps made by an admin,
//! never-used and long-inactive registrations, a burst, and a few dangerous ones.

mod keycloak;
mod population;

pub use keycloak::{write_keycloak_store, REALM as KEYCLOAK_REALM};

pub use population::{generate, DemoClient, Rng};

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::SqlitePool;
use std::path::Path;

const HYDRA_SCHEMA: &str = include_str!("hydra-v2.3.0-sqlite.sql");

/// The network id every demo row belongs to.
pub const NID: &str = "7f2f6c5e-0c61-4d8a-9a4e-3b1f0d6a9c21";

/// Go's time format as Hydra's SQLite driver writes it.
pub(crate) fn hydra_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string()
}

/// A new SQLite database at `path` (replacing one there, with its WAL files) with `schema`.
async fn fresh_sqlite(path: &Path, schema: &str) -> anyhow::Result<SqlitePool> {
    for suffix in ["", "-wal", "-shm"] {
        let p = format!("{}{suffix}", path.display());
        if Path::new(&p).exists() {
            std::fs::remove_file(&p)?;
        }
    }
    let pool: SqlitePool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true),
        )
        .await?;
    sqlx::raw_sql(schema).execute(&pool).await?;
    Ok(pool)
}

/// Creates `path` (replacing it) as a Hydra SQLite database holding `clients`.
pub async fn write_hydra_store(
    path: &Path,
    clients: &[DemoClient],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let pool = fresh_sqlite(path, HYDRA_SCHEMA).await?;
    sqlx::query("INSERT INTO networks (id, created_at, updated_at) VALUES ($1, $2, $2)")
        .bind(NID)
        .bind(hydra_time(now - chrono::Duration::days(400)))
        .execute(&pool)
        .await?;
    let mut tx = pool.begin().await?;
    for (i, c) in clients.iter().enumerate() {
        let json = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "INSERT INTO hydra_client (id, nid, client_name, client_secret, redirect_uris, grant_types, response_types, scope,
                 owner, policy_uri, tos_uri, client_uri, logo_uri, contacts, sector_identifier_uri, jwks, jwks_uri,
                 request_uris, token_endpoint_auth_method, allowed_cors_origins, audience, created_at, updated_at,
                 metadata, registration_access_token_signature, skip_consent, pk_deprecated)
             VALUES ($1, $2, $3, '', $4, $5, $6, $7, '', '', '', $8, $9, '[]', '', '{}', '', '[]', $10, '[]', '[]', $11, $11,
                 $12, $13, $14, $15)",
        )
        .bind(&c.client_id)
        .bind(NID)
        .bind(&c.client_name)
        .bind(json(&c.redirect_uris))
        .bind(json(&c.grant_types))
        .bind(json(&["code".to_owned()]))
        .bind(&c.scope)
        .bind(c.client_uri.as_deref().unwrap_or(""))
        .bind(c.logo_uri.as_deref().unwrap_or(""))
        .bind(&c.auth_method)
        .bind(hydra_time(c.created_at))
        .bind(if c.admin { r#"{"owner_team":"platform"}"# } else { "{}" })
        .bind(format!("demo-rat-{i}"))
        .bind(c.admin)
        // Hydra reads it as an integer: a NULL would make its admin API fail to list clients.
        .bind(i as i64 + 1)
        .execute(&mut *tx)
        .await?;
        for (j, used) in c.uses.iter().enumerate() {
            let table = if j % 2 == 0 {
                "hydra_oauth2_access"
            } else {
                "hydra_oauth2_refresh"
            };
            sqlx::query(&format!(
                "INSERT INTO {table} (signature, request_id, requested_at, client_id, scope, granted_scope, form_data,
                     session_data, nid) VALUES ($1, $2, $3, $4, 'openid', 'openid', '', '', $5)"
            ))
            .bind(format!("demo-sig-{i}-{j}"))
            .bind(format!("demo-req-{i}-{j}"))
            .bind(hydra_time(*used))
            .bind(&c.client_id)
            .bind(NID)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    pool.close().await;
    Ok(())
}

#[cfg(test)]
mod store_tests;
