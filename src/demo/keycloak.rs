//! `regwarden demo --kind keycloak`: the demo population as a Keycloak 26.7 realm would hold
//! it, in SQLite with Keycloak's own table and column names (the tables regwarden reads).
//!
//! The story: realm `mcp` upgraded to Keycloak 26.7 six weeks ago (clients since then carry
//! `created_timestamp`; older ones only a `CLIENT_REGISTER` event or a secret creation time),
//! saves events with Keycloak's default types and no expiry, keeps the six built-in clients,
//! and has the anonymous Max Clients policy set just above what it holds.

use super::DemoClient;
use chrono::{DateTime, Duration, Utc};
use std::path::Path;

const SCHEMA: &str = include_str!("keycloak-26.7-sqlite.sql");

/// The demo realm's name and internal id.
pub const REALM: &str = "mcp";
const REALM_ID: &str = "3c1f6a2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b";

/// When the demo realm was upgraded to 26.7, which began recording creation times.
const UPGRADED_DAYS_AGO: i64 = 42;

/// Creates `path` (replacing it) as a Keycloak-shaped SQLite database holding `clients`;
/// returns the Max Clients limit it set.
pub async fn write_keycloak_store(
    path: &Path,
    clients: &[DemoClient],
    now: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let pool = super::fresh_sqlite(path, SCHEMA).await?;
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO realm (id, name, events_enabled, events_expiration) VALUES ($1, $2, 1, NULL)",
    )
    .bind(REALM_ID)
    .bind(REALM)
    .execute(&mut *tx)
    .await?;
    let upgraded = now - Duration::days(UPGRADED_DAYS_AGO);
    let realm_created = now - Duration::days(400);
    for (i, name) in crate::source::keycloak::BUILT_IN.iter().enumerate() {
        sqlx::query(
            "INSERT INTO client (id, client_id, realm_id, protocol, public_client, client_authenticator_type, name)
             VALUES ($1, $2, $3, 'openid-connect', $4, 'client-secret', $5)",
        )
        .bind(format!("00000000-0000-4000-8000-{i:012}"))
        .bind(name)
        .bind(REALM_ID)
        .bind(name.ends_with("console") || *name == "admin-cli")
        .bind(format!("${{client_{name}}}"))
        .execute(&mut *tx)
        .await?;
    }
    let ms = |t: DateTime<Utc>| t.timestamp_millis();
    for (i, c) in clients.iter().enumerate() {
        let id = format!("{:08x}-0000-4000-8000-{:012x}", i + 1, i + 1);
        let public = c.auth_method == "none";
        let dcr = !c.admin;
        let grants = |g: &str| c.grant_types.iter().any(|x| x == g);
        sqlx::query(
            "INSERT INTO client (id, client_id, name, realm_id, protocol, enabled, public_client, consent_required,
                 standard_flow_enabled, implicit_flow_enabled, direct_access_grants_enabled, service_accounts_enabled,
                 client_authenticator_type, base_url, registration_token, secret, created_timestamp, last_modified_timestamp)
             VALUES ($1, $2, $3, $4, 'openid-connect', 1, $5, $6, $7, $8, 0, $9, $10, $11, $12, $13, $14, $14)",
        )
        .bind(&id)
        .bind(&c.client_id)
        .bind(&c.client_name)
        .bind(REALM_ID)
        .bind(public)
        // Keycloak's anonymous registration policies force consent.
        .bind(dcr)
        .bind(grants("authorization_code"))
        .bind(grants("implicit"))
        .bind(grants("client_credentials"))
        .bind(if public { "none" } else { "client-secret" })
        .bind(c.client_uri.as_deref())
        .bind(dcr.then(|| format!("demo-registration-token-{i}")))
        .bind((!public).then(|| format!("demo-secret-{i}")))
        .bind((c.created_at >= upgraded).then(|| ms(c.created_at)))
        .execute(&mut *tx)
        .await?;
        for uri in &c.redirect_uris {
            sqlx::query("INSERT OR IGNORE INTO redirect_uris (client_id, value) VALUES ($1, $2)")
                .bind(&id)
                .bind(uri)
                .execute(&mut *tx)
                .await?;
        }
        let mut attributes = vec![];
        if let Some(logo) = &c.logo_uri {
            attributes.push(("logoUri", logo.clone()));
        }
        if !public {
            attributes.push((
                "client.secret.creation.time",
                c.created_at.timestamp().to_string(),
            ));
        }
        for (name, value) in attributes {
            sqlx::query(
                "INSERT INTO client_attributes (client_id, name, value) VALUES ($1, $2, $3)",
            )
            .bind(&id)
            .bind(name)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        }
        let event = |n: usize, kind: &'static str, at: DateTime<Utc>| {
            sqlx::query(
                "INSERT INTO event_entity (id, client_id, realm_id, event_time, type, ip_address)
                 VALUES ($1, $2, $3, $4, $5, '127.0.0.1')",
            )
            .bind(format!("ev-{i}-{n}"))
            .bind(c.client_id.clone())
            .bind(REALM_ID)
            .bind(ms(at))
            .bind(kind)
        };
        if dcr && c.created_at >= realm_created {
            event(0, "CLIENT_REGISTER", c.created_at)
                .execute(&mut *tx)
                .await?;
        }
        for (j, used) in c.uses.iter().enumerate() {
            event(j + 1, "CODE_TO_TOKEN", *used)
                .execute(&mut *tx)
                .await?;
        }
        if let (true, Some(first)) = (dcr, c.uses.iter().min()) {
            let last = c.uses.iter().max().unwrap_or(first);
            sqlx::query(
                "INSERT INTO user_consent (id, client_id, user_id, created_date, last_updated_date)
                 VALUES ($1, $2, 'demo-user', $3, $4)",
            )
            .bind(format!("consent-{i}"))
            .bind(&id)
            .bind(ms(*first))
            .bind(ms(*last))
            .execute(&mut *tx)
            .await?;
        }
    }
    // Max Clients counts every client of the realm, the built-in ones too.
    let held = (clients.len() + crate::source::keycloak::BUILT_IN.len()) as u64;
    let limit = (held * 21 / 20).div_ceil(50) * 50;
    sqlx::query(
        "INSERT INTO component (id, name, parent_id, provider_id, provider_type, realm_id, sub_type)
         VALUES ('max-clients-demo', 'Max Clients Limit', $1, 'max-clients',
                 'org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy', $1, 'anonymous')",
    )
    .bind(REALM_ID)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO component_config (id, component_id, name, value)
         VALUES ('max-clients-demo-config', 'max-clients-demo', 'max-clients', $1)",
    )
    .bind(limit.to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    pool.close().await;
    Ok(limit)
}
