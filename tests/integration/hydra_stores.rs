//! regwarden against a real Ory Hydra v2.3.0 on each database Hydra supports, with real
//! registrations from the MCP TypeScript SDK (see the harness for the scenario).

use crate::harness::*;

/// The columns of `hydra_client` the README grants (never secrets or tokens).
const HYDRA_CLIENT_COLUMNS: &str = "id, nid, client_name, redirect_uris, grant_types, response_types, scope, \
    token_endpoint_auth_method, client_uri, logo_uri, policy_uri, tos_uri, jwks_uri, contacts, owner, metadata, \
    created_at, updated_at, skip_consent, access_token_strategy, sector_identifier_uri, request_uris";

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL, Ory Hydra and the MCP SDK: run scripts/test.sh"]
async fn hydra_on_postgresql_through_a_read_only_role() {
    let (pg, bin, mcp) = (
        need("REGWARDEN_TEST_PG_URL"),
        need("REGWARDEN_HYDRA_BIN"),
        need("REGWARDEN_MCP_DIR"),
    );
    let dir = tempfile::tempdir().unwrap();
    let db = unique("hydra");
    let url = create_pg_database(&pg, &db).await;
    hydra_migrate(&bin, &hydra_dsn(&url), None).await;
    let hydra = Hydra::start(&bin, &hydra_dsn(&url), dir.path());

    // regwarden reads with exactly the grants the README asks for, nothing more.
    let role = unique("regwarden_ro");
    let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    for sql in [
        format!("CREATE ROLE {role} LOGIN PASSWORD 'ro-pass'"),
        format!("GRANT CONNECT ON DATABASE {db} TO {role}"),
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
        format!("GRANT SELECT (id, created_at) ON networks TO {role}"),
        format!("GRANT SELECT ({HYDRA_CLIENT_COLUMNS}) ON hydra_client TO {role}"),
        format!("GRANT SELECT (client_id, nid, requested_at) ON hydra_oauth2_access, hydra_oauth2_refresh, hydra_oauth2_flow TO {role}"),
    ] {
        sqlx::query(&sql).execute(&mut c).await.unwrap();
    }
    let mut ro = url::Url::parse(&url).unwrap();
    ro.set_username(&role).unwrap();
    ro.set_password(Some("ro-pass")).unwrap();
    hydra_scenario(&hydra, &mcp, ro.as_str(), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs MariaDB, Ory Hydra and the MCP SDK: run scripts/test.sh"]
async fn hydra_on_mariadb() {
    let (my, bin, mcp) = (
        need("REGWARDEN_TEST_MYSQL_URL"),
        need("REGWARDEN_HYDRA_BIN"),
        need("REGWARDEN_MCP_DIR"),
    );
    let dir = tempfile::tempdir().unwrap();
    let url = create_mysql_database(&my, &unique("hydra")).await;
    hydra_migrate(&bin, &hydra_dsn(&url), Some(&url)).await;
    let hydra = Hydra::start(&bin, &hydra_dsn(&url), dir.path());

    // The README's grants for MySQL/MariaDB.
    let db = url.rsplit('/').next().unwrap().to_owned();
    let user = unique("ro");
    let mut c = <sqlx::MySqlConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    for sql in [
        format!("CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'ro-pass'"),
        format!("GRANT SELECT (id, created_at) ON {db}.networks TO '{user}'@'127.0.0.1'"),
        format!("GRANT SELECT ({HYDRA_CLIENT_COLUMNS}) ON {db}.hydra_client TO '{user}'@'127.0.0.1'"),
        format!("GRANT SELECT (client_id, nid, requested_at) ON {db}.hydra_oauth2_access TO '{user}'@'127.0.0.1'"),
        format!("GRANT SELECT (client_id, nid, requested_at) ON {db}.hydra_oauth2_refresh TO '{user}'@'127.0.0.1'"),
        format!("GRANT SELECT (client_id, nid, requested_at) ON {db}.hydra_oauth2_flow TO '{user}'@'127.0.0.1'"),
    ] {
        sqlx::query(&sql).execute(&mut c).await.unwrap();
    }
    let mut ro = url::Url::parse(&url).unwrap();
    ro.set_username(&user).unwrap();
    ro.set_password(Some("ro-pass")).unwrap();
    hydra_scenario(&hydra, &mcp, ro.as_str(), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Ory Hydra and the MCP SDK: run scripts/test.sh"]
async fn hydra_on_sqlite() {
    let (bin, mcp) = (need("REGWARDEN_HYDRA_BIN"), need("REGWARDEN_MCP_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hydra.db");
    let dsn = format!("sqlite://{}?_fk=true", file.display());
    hydra_migrate(&bin, &dsn, None).await;
    let hydra = Hydra::start(&bin, &dsn, dir.path());
    hydra_scenario(
        &hydra,
        &mcp,
        &format!("sqlite://{}", file.display()),
        dir.path(),
    )
    .await;
}

/// Without `database_url`, Hydra is read through `GET /admin/clients` alone: the same clients
/// with the same origins as the database path, across pages; usage unknown (the API shows
/// none), creation from the API's `created_at`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Ory Hydra and the MCP SDK: run scripts/test.sh"]
async fn hydra_through_its_admin_api_alone() {
    let (bin, mcp) = (need("REGWARDEN_HYDRA_BIN"), need("REGWARDEN_MCP_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hydra.db");
    let dsn = format!("sqlite://{}?_fk=true", file.display());
    hydra_migrate(&bin, &dsn, None).await;
    let hydra = Hydra::start(&bin, &dsn, dir.path());
    let regs = register(
        &mcp,
        &hydra.public,
        serde_json::json!([{"client": "claude-code", "count": 4}, {"client": "cursor"},
            {"client": "vscode", "count": 2}]),
    );
    authcode(&mcp, &hydra, &regs[0]);
    let config = |name: &str, store: &str| {
        let sub = dir.path().join(name);
        std::fs::create_dir_all(&sub).unwrap();
        let path = sub.join("regwarden.toml");
        std::fs::write(
            &path,
            format!(
                "[state]\nurl = \"sqlite://state.db\"\n[[stores]]\nname = \"h\"\nkind = \"hydra\"\n\
                 admin_url = \"{}\"\nbatch_size = 2\n{store}",
                hydra.admin
            ),
        )
        .unwrap();
        path
    };
    let db = config(
        "db",
        &format!("database_url = \"sqlite://{}\"\n", file.display()),
    );
    let api = config("api", "");
    for cfg in [&db, &api] {
        let out = regwarden()
            .args(["scan", "--full", "--config"])
            .arg(cfg)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let out = regwarden()
        .args(["check-config", "--config"])
        .arg(&api)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Hydra's API shows no usage"), "{text}");
    let rows = |cfg: &std::path::Path| {
        let state = cfg.with_file_name("state.db");
        async move {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
                "sqlite://{}",
                state.display()
            ))
            .await
            .unwrap();
            let rows: Vec<(String, String, String, Option<i64>)> = sqlx::query_as(
                "SELECT client_id, origin, usage, created_at FROM registrations ORDER BY client_id",
            )
            .fetch_all(&mut c)
            .await
            .unwrap();
            rows
        }
    };
    let (from_db, from_api) = (rows(&db).await, rows(&api).await);
    assert_eq!(from_api.len(), 7);
    for ((id, origin, _, created), (api_id, api_origin, usage, api_created)) in
        from_db.iter().zip(&from_api)
    {
        assert_eq!((id, origin, created), (api_id, api_origin, api_created));
        assert_eq!(usage, "unknown", "{api_id}");
    }
    assert!(from_db.iter().any(|r| r.2 == "used"), "{from_db:?}");
}
