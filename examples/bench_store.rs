//! The benchmark store of `scripts/bench.sh`: a Hydra v2 database on PostgreSQL, schema made
//! by Hydra's own `hydra migrate sql up`, filled with the demo population
//! (`regwarden::demo::generate`) at N clients and 0.6 N access-token and 0.2 N refresh-token
//! rows, loaded with COPY.
//!
//! ```sh
//! cargo run --release --example bench_store -- version          # names a cached store
//! cargo run --release --example bench_store -- build URL N      # fill a freshly migrated database
//! cargo run --release --example bench_store -- change URL [K]   # change 1% of it, as Hydra would
//! cargo run --release --example bench_store -- restore URL      # undo the change
//! ```
//!
//! Rows are shaped as Hydra v2.3.0 writes them (whole-second `created_at`, microsecond
//! `updated_at`, hashed secrets for confidential clients, a registration token signature for
//! DCR clients, tokens with 96-hex signatures and ~350-byte sealed sessions) and stored in
//! the order Hydra would have inserted them: clients by creation time, tokens by request
//! time. Each client's latest use is an access token; its earlier uses fill the rest of the
//! access and refresh rows, so the store's last uses are the population's.
//!
//! An example rather than a subcommand: it is a tool for the benchmark, not for operators,
//! yet `cargo clippy --all-targets` keeps it building against the library it measures.

use chrono::{DateTime, Duration, DurationRound, Utc};
use regwarden::demo::{generate, DemoClient, Rng};
use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Executor, Row};
use std::fmt::Write as _;
use std::time::Instant;

/// Bumped whenever the rows this file writes change shape; with the population's own hash
/// it names the cached store.
const GENERATOR: u32 = 2;

/// Token rows per client: Hydra's janitor keeps about this many on a busy server.
const ACCESS_PER_CLIENT: f64 = 0.6;
const REFRESH_PER_CLIENT: f64 = 0.2;

/// Where the generator keeps what it needs besides Hydra's tables (its metadata, the rows
/// a `change` replaced): a schema of its own, which regwarden never reads.
const SCHEMA: &str = "regwarden_bench";

/// What makes a client one of the 1% a `change` edits, or one of the 1% it gives new
/// tokens: a bucket of the id's hash, so the same clients every time.
const HASH: &str = "(('x' || substr(md5(id), 1, 8))::bit(32)::int & 2147483647)";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["version"] => println!("{}", version()),
        ["build", url, n] => build(url, n.parse()?).await?,
        ["change", url] => change(url, 0).await?,
        ["change", url, k] => change(url, k.parse()?).await?,
        ["restore", url] => restore(url).await?,
        _ => {
            anyhow::bail!("usage: bench_store version | build URL N | change URL [K] | restore URL")
        }
    }
    Ok(())
}

/// `g<GENERATOR>-<hash of a small population>`: changes when this file's rows or the
/// library's population change, so a stale cached store is never measured.
fn version() -> String {
    let now = DateTime::from_timestamp(1_790_000_000, 0).expect("a valid time");
    let hash = Sha256::digest(format!("{:?}", generate(1000, now)));
    let hex: String = hash[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("g{GENERATOR}-{hex}")
}

/// Random text for the parts of a row the population leaves open (secrets, signatures), from
/// the demo's splitmix64.
trait RandomText {
    fn push_b64(&mut self, out: &mut String, len: usize);
    fn push_hex(&mut self, out: &mut String, len: usize);
    fn push_uuid(&mut self, out: &mut String);
}

impl RandomText for Rng {
    fn push_b64(&mut self, out: &mut String, len: usize) {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut bits = 0u64;
        for i in 0..len {
            if i % 10 == 0 {
                bits = self.next_u64();
            }
            out.push(A[(bits & 63) as usize] as char);
            bits >>= 6;
        }
    }
    fn push_hex(&mut self, out: &mut String, len: usize) {
        for i in 0..len.div_ceil(16) {
            let s = format!("{:016x}", self.next_u64());
            out.push_str(&s[..16.min(len - 16 * i)]);
        }
    }
    fn push_uuid(&mut self, out: &mut String) {
        let h = format!("{:016x}{:016x}", self.next_u64(), self.next_u64());
        let _ = write!(
            out,
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        );
    }
}

async fn connect(url: &str) -> anyhow::Result<PgConnection> {
    let mut conn = PgConnection::connect(url).await?;
    conn.execute("SET synchronous_commit = off").await?;
    Ok(conn)
}

/// The network regwarden reads: the oldest, as Hydra picks it.
async fn network(conn: &mut PgConnection) -> anyhow::Result<String> {
    let row = sqlx::query("SELECT id::text FROM networks ORDER BY created_at, id LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no network: run `hydra migrate sql up` first"))?;
    Ok(row.get(0))
}

/// Hydra's timestamp columns (without time zone, UTC), as PostgreSQL reads them.
fn pg_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

/// One field of COPY's text format.
fn push_field(out: &mut String, v: &str) {
    for ch in v.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// Appends the fields, tab-separated, and ends the row (`None` is NULL).
fn push_row(out: &mut String, fields: &[Option<&str>]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        match f {
            Some(v) => push_field(out, v),
            None => out.push_str("\\N"),
        }
    }
    out.push('\n');
}

/// Sends one COPY row per item (`row` appends it to the buffer) to `COPY table (columns)`.
async fn copy_rows<T>(
    conn: &mut PgConnection,
    table: &str,
    columns: &[&str],
    items: impl Iterator<Item = T>,
    mut row: impl FnMut(T, &mut String),
) -> anyhow::Result<u64> {
    let mut copy = conn
        .copy_in_raw(&format!("COPY {table} ({}) FROM STDIN", columns.join(", ")))
        .await?;
    let mut buf = String::with_capacity(1 << 22);
    for item in items {
        row(item, &mut buf);
        if buf.len() >= 1 << 22 {
            copy.send(std::mem::take(&mut buf).into_bytes()).await?;
            buf.reserve(1 << 22);
        }
    }
    if !buf.is_empty() {
        copy.send(buf.into_bytes()).await?;
    }
    Ok(copy.finish().await?)
}

const CLIENT_COLUMNS: [&str; 29] = [
    "id",
    "nid",
    "client_name",
    "client_secret",
    "redirect_uris",
    "grant_types",
    "response_types",
    "scope",
    "owner",
    "policy_uri",
    "tos_uri",
    "client_uri",
    "logo_uri",
    "contacts",
    "sector_identifier_uri",
    "jwks",
    "jwks_uri",
    "request_uris",
    "token_endpoint_auth_method",
    "allowed_cors_origins",
    "audience",
    "created_at",
    "updated_at",
    "metadata",
    "registration_access_token_signature",
    "skip_consent",
    "pk_deprecated",
    "userinfo_signed_response_alg",
    "subject_type",
];

/// One `hydra_client` row as Hydra v2.3.0 writes a registration.
fn client_row(out: &mut String, c: &DemoClient, nid: &str, rng: &mut Rng, now: DateTime<Utc>) {
    let json = |v: &[String]| serde_json::to_string(v).expect("strings serialize");
    let mut secret = String::new();
    if c.auth_method != "none" {
        secret.push_str("$pbkdf2-sha256$i=25000,l=32$");
        rng.push_b64(&mut secret, 22);
        secret.push('$');
        rng.push_b64(&mut secret, 43);
    }
    // Hydra truncates created_at to the second; updated_at keeps microseconds. Admin apps
    // were edited since; DCR registrations never are.
    let created = c
        .created_at
        .duration_trunc(Duration::seconds(1))
        .unwrap_or(c.created_at);
    let age_ms = (now - created).num_milliseconds().max(1) as u64;
    let edited_ms = if c.admin {
        rng.below(age_ms)
    } else {
        rng.below(100)
    };
    let updated = created
        + Duration::milliseconds(edited_ms as i64)
        + Duration::microseconds(rng.below(1000) as i64);
    let mut rat = String::new();
    if !c.admin {
        rng.push_b64(&mut rat, 43);
    }
    let (redirects, grants) = (json(&c.redirect_uris), json(&c.grant_types));
    let (created, updated) = (pg_time(created), pg_time(updated));
    let metadata = if c.admin {
        r#"{"owner_team":"platform"}"#
    } else {
        "{}"
    };
    push_row(
        out,
        &[
            Some(&c.client_id),
            Some(nid),
            Some(&c.client_name),
            Some(&secret),
            Some(&redirects),
            Some(&grants),
            Some(r#"["code"]"#),
            Some(&c.scope),
            Some(""),
            Some(""),
            Some(""),
            Some(c.client_uri.as_deref().unwrap_or("")),
            Some(c.logo_uri.as_deref().unwrap_or("")),
            Some("[]"),
            Some(""),
            Some("{}"),
            Some(""),
            Some("[]"),
            Some(&c.auth_method),
            Some("[]"),
            Some("[]"),
            Some(&created),
            Some(&updated),
            Some(metadata),
            Some(&rat),
            Some(if c.admin { "t" } else { "f" }),
            Some("0"),
            Some("none"),
            Some("public"),
        ],
    );
}

const ACCESS_COLUMNS: [&str; 15] = [
    "signature",
    "request_id",
    "requested_at",
    "client_id",
    "scope",
    "granted_scope",
    "form_data",
    "session_data",
    "subject",
    "active",
    "requested_audience",
    "granted_audience",
    "challenge_id",
    "nid",
    "expires_at",
];

/// A token row: access (`refresh = false`) or refresh. No consent flow is kept (Hydra's
/// janitor removes them first), so `challenge_id` is NULL.
fn token_row(
    out: &mut String,
    refresh: bool,
    client: &str,
    at: DateTime<Utc>,
    nid: &str,
    rng: &mut Rng,
) {
    let mut sig = String::new();
    if refresh {
        rng.push_b64(&mut sig, 43);
    } else {
        rng.push_hex(&mut sig, 96);
    }
    let mut request = String::new();
    rng.push_uuid(&mut request);
    let grant = if refresh {
        "refresh_token"
    } else {
        "authorization_code"
    };
    let form = format!("client_id={client}&grant_type={grant}");
    let mut session = String::new();
    let len = 320 + rng.below(64) as usize;
    rng.push_b64(&mut session, len);
    let subject = format!("user-{}", rng.below(50_000));
    let expires = pg_time(
        at + if refresh {
            Duration::days(30)
        } else {
            Duration::hours(1)
        },
    );
    // Hydra keeps microseconds; the population's uses are whole seconds.
    let at = pg_time(at + Duration::microseconds(rng.below(1_000_000) as i64));
    let mut access_sig = String::new();
    rng.push_hex(&mut access_sig, 96);
    let mut fields = vec![
        Some(sig.as_str()),
        Some(&request),
        Some(&at),
        Some(client),
        Some("openid|offline_access"),
        Some("openid|offline_access"),
        Some(&form),
        Some(&session),
        Some(&subject),
        Some("t"),
        Some(""),
        Some(""),
        None,
        Some(nid),
        Some(&expires),
    ];
    if refresh {
        fields.extend([None, Some(access_sig.as_str())]);
    }
    push_row(out, &fields);
}

/// Which uses become token rows: (time, client index, is refresh), in time order. Each
/// used client's latest use is an access token (so the store's last uses are the
/// population's); the earlier uses, spread evenly, make up the rest of each table.
fn token_plan(clients: &[DemoClient]) -> Vec<(DateTime<Utc>, u32, bool)> {
    let n = clients.len() as f64;
    let (want_access, want_refresh) = (
        (n * ACCESS_PER_CLIENT) as usize,
        (n * REFRESH_PER_CLIENT) as usize,
    );
    let mut plan = Vec::with_capacity(want_access + want_refresh);
    let mut extra = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let Some(last) = c.uses.iter().max() else {
            continue;
        };
        let refresh = plan.len() >= want_access;
        if !refresh || plan.len() < want_access + want_refresh {
            plan.push((*last, i as u32, refresh));
        }
        let mut skipped_last = false;
        for u in &c.uses {
            if u == last && !skipped_last {
                skipped_last = true;
            } else {
                extra.push((*u, i as u32));
            }
        }
    }
    let have_access = plan.iter().filter(|p| !p.2).count();
    let have_refresh = plan.len() - have_access;
    let need = [
        want_access.saturating_sub(have_access),
        want_refresh.saturating_sub(have_refresh),
    ];
    // Bresenham over the earlier uses: exactly `need` of each, evenly spread. A use that
    // gets both is one token request that issued both, as the code exchange does.
    let e = extra.len().max(1);
    for (k, (t, i)) in extra.into_iter().enumerate() {
        for (kind, need) in need.iter().enumerate() {
            if (k + 1) * need / e > k * need / e {
                plan.push((t, i, kind == 1));
            }
        }
    }
    plan.sort_unstable();
    plan
}

async fn build(url: &str, n: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let now = Utc::now().duration_trunc(Duration::seconds(1))?;
    let mut conn = connect(url).await?;
    let nid = network(&mut conn).await?;
    let existing: i64 = sqlx::query("SELECT count(*) FROM hydra_client")
        .fetch_one(&mut conn)
        .await?
        .get(0);
    anyhow::ensure!(existing == 0, "hydra_client already holds {existing} rows");
    // The rows are consistent by construction: skip the foreign-key triggers while loading.
    conn.execute("SET session_replication_role = replica")
        .await?;

    let mut clients = generate(n, now);
    // Hydra inserts a registration when it is made: the table's physical order is creation.
    clients.sort_by_key(|c| c.created_at);
    let plan = token_plan(&clients);
    eprintln!(
        "bench_store: {n} clients, {} access and {} refresh tokens generated in {:.1}s",
        plan.iter().filter(|p| !p.2).count(),
        plan.iter().filter(|p| p.2).count(),
        started.elapsed().as_secs_f64()
    );

    // Clients and tokens load at once, on two connections: the server does the work.
    let mut conn2 = connect(url).await?;
    conn2
        .execute("SET session_replication_role = replica")
        .await?;
    let mut rng = Rng(0xB3AC_2026);
    let mut rng2 = Rng(0x70CE_2026);
    let (clients_copied, (access, refresh)) = tokio::try_join!(
        copy_rows(
            &mut conn,
            "hydra_client",
            &CLIENT_COLUMNS,
            clients.iter(),
            |c, out| client_row(out, c, &nid, &mut rng, now),
        ),
        async {
            let mut token = |&(t, i, refresh): &(DateTime<Utc>, u32, bool), out: &mut String| {
                token_row(
                    out,
                    refresh,
                    &clients[i as usize].client_id,
                    t,
                    &nid,
                    &mut rng2,
                )
            };
            let access = copy_rows(
                &mut conn2,
                "hydra_oauth2_access",
                &ACCESS_COLUMNS,
                plan.iter().filter(|p| !p.2),
                &mut token,
            )
            .await?;
            let mut refresh_columns = ACCESS_COLUMNS.to_vec();
            refresh_columns.extend(["first_used_at", "access_token_signature"]);
            let refresh = copy_rows(
                &mut conn2,
                "hydra_oauth2_refresh",
                &refresh_columns,
                plan.iter().filter(|p| p.2),
                token,
            )
            .await?;
            Ok::<_, anyhow::Error>((access, refresh))
        }
    )?;
    eprintln!(
        "bench_store: copied {clients_copied} clients, {access} access and {refresh} refresh tokens in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    drop(clients);

    // As an autovacuumed production database would be: statistics, visibility map.
    for table in [
        "hydra_client",
        "hydra_oauth2_access",
        "hydra_oauth2_refresh",
    ] {
        conn.execute(format!("VACUUM (ANALYZE) {table}").as_str())
            .await?;
    }
    conn.execute(format!("CREATE SCHEMA {SCHEMA}").as_str())
        .await?;
    conn.execute(
        format!(
            "CREATE TABLE {SCHEMA}.meta (generator text, clients bigint, access bigint, refresh bigint,
                 population_now timestamp, build_seconds float8)"
        )
        .as_str(),
    )
    .await?;
    sqlx::query(&format!(
        "INSERT INTO {SCHEMA}.meta VALUES ($1, $2, $3, $4, $5::timestamp, $6)"
    ))
    .bind(version())
    .bind(clients_copied as i64)
    .bind(access as i64)
    .bind(refresh as i64)
    .bind(pg_time(now))
    .bind(started.elapsed().as_secs_f64())
    .execute(&mut conn)
    .await?;
    eprintln!(
        "bench_store: built in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Changes 1% of the store as Hydra's admin API would (a PUT replaces the client and sets
/// `updated_at`: half get a redirect URI more, half a new name) and gives another 1% new
/// access and refresh tokens, all over the last 30 seconds (inside the minute incremental
/// reads go back, so no change falls before the cursor of a scan that ran just before).
/// Keeps what it replaced for `restore`. Change `k` edits other clients than change `k - 1`,
/// so a state that saw one of them sees the next one as new.
async fn change(url: &str, k: u32) -> anyhow::Result<()> {
    let mut conn = connect(url).await?;
    let nid = network(&mut conn).await?;
    let mut tx = conn.begin().await?;
    let sql = [
        format!(
            "CREATE TABLE {SCHEMA}.changed AS
             SELECT id, nid, client_name, redirect_uris, updated_at, {HASH} / 100 % 2 = 0 AS redirect
             FROM hydra_client WHERE nid = '{nid}' AND {HASH} % 100 = {}",
            2 * k % 100
        ),
        format!(
            "UPDATE hydra_client c SET
                 redirect_uris = CASE WHEN b.redirect
                     THEN c.redirect_uris || '[\"http://127.0.0.1:8976/oauth/callback\"]'::jsonb
                     ELSE c.redirect_uris END,
                 client_name = CASE WHEN b.redirect THEN c.client_name
                     ELSE c.client_name || ' (edited)' END,
                 updated_at = (now() AT TIME ZONE 'UTC') - random() * interval '30 seconds'
             FROM {SCHEMA}.changed b WHERE c.id = b.id AND c.nid = b.nid"
        ),
        format!(
            "CREATE TABLE {SCHEMA}.added AS
             SELECT id AS client_id, md5(id || 'a') || md5(id || 'b') || md5(id || 'c') AS access_sig,
                 md5(id || 'r') AS refresh_sig, gen_random_uuid()::text AS request_id,
                 (now() AT TIME ZONE 'UTC') - random() * interval '30 seconds' AS at
             FROM hydra_client WHERE nid = '{nid}' AND {HASH} % 100 = {}",
            (2 * k + 1) % 100
        ),
        format!(
            "INSERT INTO hydra_oauth2_access (signature, request_id, requested_at, client_id, scope,
                 granted_scope, form_data, session_data, subject, nid, expires_at)
             SELECT access_sig, request_id, at, client_id, 'openid|offline_access', 'openid|offline_access',
                 'client_id=' || client_id || '&grant_type=refresh_token', repeat(md5(client_id), 11),
                 'user-bench', '{nid}', at + interval '1 hour' FROM {SCHEMA}.added"
        ),
        format!(
            "INSERT INTO hydra_oauth2_refresh (signature, request_id, requested_at, client_id, scope,
                 granted_scope, form_data, session_data, subject, nid, expires_at, access_token_signature)
             SELECT refresh_sig, request_id, at, client_id, 'openid|offline_access', 'openid|offline_access',
                 'client_id=' || client_id || '&grant_type=refresh_token', repeat(md5(client_id), 11),
                 'user-bench', '{nid}', at + interval '30 days', access_sig FROM {SCHEMA}.added"
        ),
    ];
    for s in &sql {
        tx.execute(s.as_str()).await?;
    }
    let counts = sqlx::query(&format!(
        "SELECT (SELECT count(*) FROM {SCHEMA}.changed), (SELECT count(*) FROM {SCHEMA}.added)"
    ))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    eprintln!(
        "bench_store: changed {} clients, new tokens for {}",
        counts.get::<i64, _>(0),
        counts.get::<i64, _>(1)
    );
    Ok(())
}

/// Undoes [`change`]: the replaced rows back, the new tokens gone, dead rows vacuumed, so
/// the next run measures the same store.
async fn restore(url: &str) -> anyhow::Result<()> {
    let mut conn = connect(url).await?;
    let mut tx = conn.begin().await?;
    let sql = [
        format!(
            "UPDATE hydra_client c SET client_name = b.client_name, redirect_uris = b.redirect_uris,
                 updated_at = b.updated_at
             FROM {SCHEMA}.changed b WHERE c.id = b.id AND c.nid = b.nid"
        ),
        format!(
            "DELETE FROM hydra_oauth2_access WHERE signature IN (SELECT access_sig FROM {SCHEMA}.added)"
        ),
        format!(
            "DELETE FROM hydra_oauth2_refresh WHERE signature IN (SELECT refresh_sig FROM {SCHEMA}.added)"
        ),
        format!("DROP TABLE {SCHEMA}.changed, {SCHEMA}.added"),
    ];
    for s in &sql {
        tx.execute(s.as_str()).await?;
    }
    tx.commit().await?;
    for table in [
        "hydra_client",
        "hydra_oauth2_access",
        "hydra_oauth2_refresh",
    ] {
        conn.execute(format!("VACUUM (ANALYZE) {table}").as_str())
            .await?;
    }
    Ok(())
}
