//! The incremental judgement against the full one: two stores of one state database get the
//! same registrations and the same changes, round after round; one is judged by
//! [`judge_changes`], the other in full, and every verdict, stored contribution and family
//! must come out the same, while the incremental one scores only a part of the store.

use super::{judge_changes, judge_store};
use crate::demo::Rng;
use crate::model::{ClientMetadata, Origin, Registration, ScanKind, Usage};
use crate::score::Scorer;
use crate::secret::Secret;
use crate::state::{testing, Recorded, State};
use chrono::{DateTime, Duration, Utc};

const NAMES: &[&str] = &[
    "Claude Code",
    "Claude Code",
    "Cursor",
    "Acme Notes",
    "Acme Notes",
    "Acme Notes (work)",
    "Widget Sync",
    "",
];

fn redirect(rng: &mut Rng) -> String {
    let port = 1024 + rng.below(60000);
    match rng.below(10) {
        0..=3 => format!("http://localhost:{port}/callback"),
        // The same family as a plain loopback one, but no catalog match (a fragment).
        8 => format!("http://localhost:{port}/callback#x"),
        4 => format!("http://127.0.0.1:{port}/callback"),
        5 => "https://notes.acme.example/oauth/cb".into(),
        6 => "https://acme.example/cb".into(),
        7 => "https://evil.example/cb".into(),
        _ => "https://widgets.example/return".into(),
    }
}

fn metadata(rng: &mut Rng) -> ClientMetadata {
    let name = NAMES[rng.below(NAMES.len() as u64) as usize];
    let redirects = (0..1 + rng.below(2)).map(|_| redirect(rng)).collect();
    ClientMetadata {
        client_name: (!name.is_empty()).then(|| name.to_owned()),
        redirect_uris: redirects,
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        response_types: vec!["code".into()],
        token_endpoint_auth_method: "none".into(),
        logo_uri: match rng.below(8) {
            0 => Some("https://cdn.example/logo.png".to_owned()),
            1 => Some(format!("https://img{}.example/logo.png", rng.below(3))),
            // Families with more sites than are kept.
            2 => Some(format!("https://cdn{}.example/logo.png", rng.below(40))),
            _ => None,
        },
        ..Default::default()
    }
}

fn usage(rng: &mut Rng, now: DateTime<Utc>) -> Usage {
    match rng.below(3) {
        0 => Usage::Never,
        1 => Usage::Unknown,
        _ => Usage::LastUsed(now - Duration::hours(rng.below(24 * 40) as i64)),
    }
}

/// A creation time in one of three five-minute clusters an hour apart, so that families
/// burst.
fn created(rng: &mut Rng) -> DateTime<Utc> {
    DateTime::from_timestamp(
        1_789_900_000 + (rng.below(3) * 3600 + rng.below(300)) as i64,
        0,
    )
    .unwrap()
}

pub(super) fn registration(rng: &mut Rng, i: u64, now: DateTime<Utc>) -> Registration {
    let created = created(rng);
    Registration {
        client_id: format!("c{i:05}"),
        metadata: metadata(rng),
        created_at: (rng.below(10) != 0).then_some(created),
        created_from: None,
        updated_at: Some(now),
        usage: usage(rng, now),
        origin: if rng.below(60) == 0 {
            Origin::Admin
        } else {
            Origin::Dcr
        },
    }
}

/// Records `regs` in both stores as a scan of `kind` would; a full one marks the rest gone.
async fn scan(state: &State, regs: &[Registration], kind: ScanKind, now: DateTime<Utc>) {
    let batch: Vec<Recorded> = regs
        .iter()
        .map(|r| Recorded {
            registration: r.clone(),
            warnings: vec![],
        })
        .collect();
    for store in ["inc", "full"] {
        let id = state.begin_scan(store, kind, now).await.unwrap();
        let full = kind == ScanKind::Full;
        state
            .record_batch(store, id, now, &batch, full, None)
            .await
            .unwrap();
        if full {
            state.mark_gone(store, id, now).await.unwrap();
        }
    }
}

/// Asserts both stores hold the same verdicts and families, showing what differs.
async fn assert_same(state: &State, what: &str) {
    let (a, b) = (
        everything(state, "inc").await,
        everything(state, "full").await,
    );
    let diff = |x: &[String], y: &[String]| -> Vec<String> {
        let only_x = x
            .iter()
            .filter(|l| !y.contains(l))
            .map(|l| format!("incremental: {l}"));
        let only_y = y
            .iter()
            .filter(|l| !x.contains(l))
            .map(|l| format!("full:        {l}"));
        only_x.chain(only_y).collect()
    };
    let d: Vec<String> = diff(&a.0, &b.0)
        .into_iter()
        .chain(diff(&a.1, &b.1))
        .collect();
    assert!(d.is_empty(), "{what}: the stores differ:\n{}", d.join("\n"));
}

/// Judges "inc" by what changed and "full" in full, and asserts the incremental judgement
/// was one and both stores agree.
async fn judge_both(state: &State, scorer: &Scorer, now: DateTime<Utc>, what: &str) {
    let inc = judge_changes(state, "inc", scorer, now, None)
        .await
        .unwrap();
    judge_store(state, "full", scorer, now, None, None)
        .await
        .unwrap();
    assert!(!inc.full, "{what}: {inc:?}");
    assert_same(state, what).await;
}

pub(super) async fn everything(state: &State, store: &str) -> (Vec<String>, Vec<String>) {
    let mut regs = Vec::new();
    let mut pages = state.live_pages(store);
    while let Some(page) = pages.next().await.unwrap() {
        regs.extend(page.into_iter().map(|j| format!("{:?}", j.stored)));
    }
    // Each store judged in full or incrementally: none is left to judge.
    let marked = state.marked_stale(store).await;
    regs.extend(marked.iter().map(|id| format!("stale: {id}")));
    let mut families: Vec<String> = state
        .families(store)
        .await
        .unwrap()
        .into_iter()
        .map(|f| format!("{f:?}"))
        .collect();
    families.sort();
    (regs, families)
}

#[tokio::test]
async fn judging_what_changed_gives_the_verdicts_of_a_full_judgement() {
    for seed in [7, 11, 23] {
        let (state, _dir) = testing::sqlite().await;
        rounds(&state, seed).await;
    }
}

/// The same on a PostgreSQL state database.
#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test.sh"]
async fn judging_what_changed_on_postgres_gives_the_verdicts_of_a_full_judgement() {
    let (_, _, url) = testing::postgres_database("rw_state").await;
    let state = State::connect(&Secret::new(url.clone())).await.unwrap();
    indexes_come_back(&state, &url).await;
    rounds(&state, 7).await;
    departures(&state, false).await;
    let (_, _, url) = testing::postgres_database("rw_state").await;
    let state = State::connect(&Secret::new(url)).await.unwrap();
    departures(&state, true).await;
}

#[tokio::test]
async fn a_full_judgement_leaves_the_indexes_the_migrations_made() {
    let (state, dir) = testing::sqlite().await;
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    indexes_come_back(&state, &url).await;
}

/// A full judgement drops the indexes only incremental judging reads and builds them again;
/// one interrupted in between leaves them to the next connection.
async fn indexes_come_back(state: &State, url: &str) {
    let migrated = testing::registration_indexes(state).await;
    assert!(
        migrated
            .iter()
            .any(|d| d.starts_with("registrations_members: ")),
        "{migrated:?}"
    );
    let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    state.ensure_store("inc", "jsonl", now).await.unwrap();
    state.ensure_store("full", "jsonl", now).await.unwrap();
    let mut rng = Rng(5);
    let regs: Vec<Registration> = (0..20).map(|i| registration(&mut rng, i, now)).collect();
    scan(state, &regs, ScanKind::Full, now).await;
    let j = judge_store(state, "full", &Scorer::with_defaults(), now, None, None)
        .await
        .unwrap();
    assert_eq!(j.judged, 20);
    assert_eq!(testing::registration_indexes(state).await, migrated);

    state.drop_judging_indexes().await.unwrap();
    assert_ne!(testing::registration_indexes(state).await, migrated);
    let again = State::connect(&Secret::new(url.to_owned())).await.unwrap();
    assert_eq!(testing::registration_indexes(&again).await, migrated);
}

async fn rounds(state: &State, seed: u64) {
    let state = state.clone();
    let scorer = Scorer::with_defaults();
    let mut now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    for store in ["inc", "full"] {
        state.ensure_store(store, "jsonl", now).await.unwrap();
    }
    let mut rng = Rng(seed);
    let mut regs: Vec<Registration> = (0..400).map(|i| registration(&mut rng, i, now)).collect();
    scan(&state, &regs, ScanKind::Full, now).await;
    let first = judge_changes(&state, "inc", &scorer, now, None)
        .await
        .unwrap();
    assert!(first.full, "nothing judged yet: a full judgement");
    judge_store(&state, "full", &scorer, now, None, None)
        .await
        .unwrap();
    assert_eq!(
        everything(&state, "inc").await,
        everything(&state, "full").await
    );

    let mut next_id = regs.len() as u64;
    let mut partial = 0;
    // Each round: some edits, some new registrations, sometimes deletions, then time moves
    // (minutes, a day, a month: notes fall due).
    for round in 0..12 {
        let mut changed: Vec<Registration> = Vec::new();
        for _ in 0..1 + rng.below(8) {
            let i = rng.below(regs.len() as u64) as usize;
            let r = &mut regs[i];
            match rng.below(5) {
                0 => r.metadata.client_name = Some(NAMES[rng.below(4) as usize].to_owned()),
                1 => r.metadata.redirect_uris.push(redirect(&mut rng)),
                2 => r.usage = Usage::LastUsed(now),
                3 => r.created_at = Some(created(&mut rng)),
                _ => r.origin = Origin::Admin,
            }
            r.updated_at = Some(now + Duration::seconds(round + 1));
            changed.push(r.clone());
        }
        for _ in 0..rng.below(4) {
            let r = registration(&mut rng, next_id, now);
            next_id += 1;
            regs.push(r.clone());
            changed.push(r);
        }
        if round % 4 == 3 {
            for _ in 0..3 {
                let i = rng.below(regs.len() as u64) as usize;
                regs.remove(i);
            }
            scan(&state, &regs, ScanKind::Full, now).await;
        } else {
            scan(&state, &changed, ScanKind::Incremental, now).await;
        }
        let inc = judge_changes(&state, "inc", &scorer, now, None)
            .await
            .unwrap();
        judge_store(&state, "full", &scorer, now, None, None)
            .await
            .unwrap();
        assert_same(&state, &format!("seed {seed}, round {round}")).await;
        assert!(!inc.full, "round {round}: {inc:?}");
        if inc.judged < regs.len() as u64 / 2 {
            partial += 1;
        }
        now += match round % 3 {
            0 => Duration::minutes(7),
            1 => Duration::days(1),
            _ => Duration::days(31),
        };
    }
    assert!(
        partial >= 6,
        "the incremental judgement scored most of the store too often"
    );

    // Nothing changed, nothing due: nothing judged, nothing written.
    let quiet = judge_changes(&state, "inc", &scorer, now, None)
        .await
        .unwrap();
    let again = judge_changes(&state, "inc", &scorer, now, None)
        .await
        .unwrap();
    assert_eq!(
        (again.judged, again.full),
        (0, false),
        "{quiet:?} then {again:?}"
    );
}

#[tokio::test]
async fn another_scorer_or_an_unfinished_judgement_judges_everything() {
    let (state, _dir) = testing::sqlite().await;
    let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    state.ensure_store("inc", "jsonl", now).await.unwrap();
    state.ensure_store("full", "jsonl", now).await.unwrap();
    let mut rng = Rng(3);
    let regs: Vec<Registration> = (0..50).map(|i| registration(&mut rng, i, now)).collect();
    scan(&state, &regs, ScanKind::Full, now).await;
    let scorer = Scorer::with_defaults();
    assert!(
        judge_changes(&state, "inc", &scorer, now, None)
            .await
            .unwrap()
            .full
    );
    assert!(
        !judge_changes(&state, "inc", &scorer, now, None)
            .await
            .unwrap()
            .full
    );

    let heavier = Scorer::new(
        scorer.catalog.clone(),
        Default::default(),
        &[(crate::score::Rule::NeverUsed, 25)],
        Default::default(),
    );
    assert_ne!(heavier.fingerprint(), scorer.fingerprint());
    let j = judge_changes(&state, "inc", &heavier, now, None)
        .await
        .unwrap();
    assert!(j.full && j.judged == 50, "{j:?}");

    // A judgement that stopped half-way left no fingerprint: the next one is full.
    state.set_judged_with("inc", None).await.unwrap();
    let j = judge_changes(&state, "inc", &heavier, now, None)
        .await
        .unwrap();
    assert!(j.full, "{j:?}");
}

#[tokio::test]
async fn a_change_in_one_family_reaches_the_namesakes_that_look_at_it() {
    let (state, _dir) = testing::sqlite().await;
    let scorer = Scorer::with_defaults();
    let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    for store in ["inc", "full"] {
        state.ensure_store(store, "jsonl", now).await.unwrap();
    }
    let app = |i: u64, host: &str, hours: i64| Registration {
        client_id: format!("c{i}"),
        metadata: ClientMetadata {
            client_name: Some("Acme Notes".into()),
            redirect_uris: vec![format!("https://{host}/cb")],
            grant_types: vec!["authorization_code".into()],
            response_types: vec!["code".into()],
            token_endpoint_auth_method: "none".into(),
            ..Default::default()
        },
        created_at: Some(now - Duration::hours(hours)),
        created_from: None,
        updated_at: Some(now - Duration::hours(hours)),
        usage: Usage::Unknown,
        origin: Origin::Dcr,
    };
    let mut regs = vec![
        app(1, "acme.example", 90),
        app(2, "acme.example", 80),
        app(3, "evil.example", 20),
    ];
    scan(&state, &regs, ScanKind::Full, now).await;
    judge_changes(&state, "inc", &scorer, now, None)
        .await
        .unwrap();
    judge_store(&state, "full", &scorer, now, None, None)
        .await
        .unwrap();
    let rules = |s: String| s.contains("family.name_shared");
    assert!(everything(&state, "inc").await.0.into_iter().all(rules));

    // An administrator takes over c1 (origin admin): c3, on another site, now copies an
    // operator's app, though nothing of c3 or its family changed.
    regs[0].origin = Origin::Admin;
    regs[0].updated_at = Some(now);
    scan(&state, &regs[..1], ScanKind::Incremental, now).await;
    let j = judge_changes(&state, "inc", &scorer, now, None)
        .await
        .unwrap();
    judge_store(&state, "full", &scorer, now, None, None)
        .await
        .unwrap();
    let (inc, _) = everything(&state, "inc").await;
    assert!(inc[2].contains("impersonation.operator_app"), "{inc:?}");
    assert_eq!(
        everything(&state, "inc").await,
        everything(&state, "full").await
    );
    // c1, and the members that look at its name's families (c3, and c2, whose own family
    // changed what it shows).
    assert_eq!((j.judged, j.full), (3, false), "{j:?}");
}

/// A loopback client named `name` with a logo on `logo` (none when empty).
fn install(i: u64, name: &str, redirect: &str, logo: &str, now: DateTime<Utc>) -> Registration {
    Registration {
        client_id: format!("c{i:03}"),
        metadata: ClientMetadata {
            client_name: Some(name.into()),
            redirect_uris: vec![redirect.into()],
            grant_types: vec!["authorization_code".into()],
            response_types: vec!["code".into()],
            token_endpoint_auth_method: "none".into(),
            logo_uri: (!logo.is_empty()).then(|| format!("https://{logo}/logo.png")),
            ..Default::default()
        },
        created_at: Some(now - Duration::days(3) + Duration::hours(i as i64)),
        created_from: None,
        updated_at: Some(now),
        usage: Usage::Unknown,
        origin: Origin::Dcr,
    }
}

#[tokio::test]
async fn what_a_departure_cannot_undo_is_counted_again_from_the_members() {
    let (state, _dir) = testing::sqlite().await;
    departures(&state, false).await;
}

/// The same when the members leave for another family (an edit an incremental scan reads)
/// instead of going: what they add to their new family is written with their verdicts, so
/// the judgement reads their old family's members with their stored columns set aside.
#[tokio::test]
async fn what_a_move_to_another_family_cannot_undo_is_counted_again_from_the_members() {
    let (state, _dir) = testing::sqlite().await;
    departures(&state, true).await;
}

/// Members on the smallest sites, the first created and a family's one catalog match leave
/// their families: gone (`moved` false) or to another family.
async fn departures(state: &State, moved: bool) {
    let state = state.clone();
    let scorer = Scorer::with_defaults();
    let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    for store in ["inc", "full"] {
        state.ensure_store(store, "jsonl", now).await.unwrap();
    }
    let loopback = "http://localhost:4242/callback";
    // A family pointing to 40 sites (more than are kept), and a namesake on another site
    // that shows the kept ones in its note.
    let mut regs: Vec<Registration> = (0..40)
        .map(|i| {
            install(
                i,
                "Sites Galore",
                loopback,
                &format!("s{i:02}.example"),
                now,
            )
        })
        .collect();
    regs.push(install(
        50,
        "Sites Galore",
        "https://other.example/cb",
        "",
        now,
    ));
    // A catalog family where one member matches Claude Code and one does not (a fragment).
    regs.push(install(60, "Claude Code", loopback, "", now));
    regs.push(install(
        61,
        "Claude Code",
        &format!("{loopback}#x"),
        "",
        now,
    ));
    scan(&state, &regs, ScanKind::Full, now).await;
    judge_changes(&state, "inc", &scorer, now, None)
        .await
        .unwrap();
    judge_store(&state, "full", &scorer, now, None, None)
        .await
        .unwrap();
    assert_same(&state, "first judgement").await;
    let galore = state.families("inc").await.unwrap();
    let big = galore.iter().find(|f| f.size == 40).unwrap();
    assert!(big.sites_overflow, "{big:?}");
    assert!(
        big.sites.as_deref().unwrap().starts_with("s00.example=1 "),
        "{big:?}"
    );

    // The members on the smallest sites go, and so does the one Claude Code match; an
    // incremental scan cannot see deletions, so a full scan marks them gone, and the
    // incremental judgement follows it here.
    let leaving =
        |r: &Registration| ["c000", "c001", "c002", "c060"].contains(&r.client_id.as_str());
    if moved {
        let mut edited: Vec<Registration> = regs.iter().filter(|r| leaving(r)).cloned().collect();
        for r in &mut edited {
            r.metadata.redirect_uris = vec!["https://moved.example/cb".into()];
            r.metadata.logo_uri = None;
            r.updated_at = Some(now + Duration::minutes(1));
        }
        scan(&state, &edited, ScanKind::Incremental, now).await;
    } else {
        regs.retain(|r| !leaving(r));
        scan(&state, &regs, ScanKind::Full, now).await;
    }
    judge_both(&state, &scorer, now, "after the departures").await;
    let families = state.families("inc").await.unwrap();
    let big = families.iter().find(|f| f.size == 37).unwrap();
    assert!(
        big.sites.as_deref().unwrap().starts_with("s03.example=1 "),
        "{big:?}"
    );
    let claude = families.iter().find(|f| f.name == "claude code").unwrap();
    assert_eq!(
        (claude.software.as_deref(), claude.software_members),
        (None, 0)
    );
}

/// One registration as a JSON Lines record.
pub(super) fn jsonl(r: &Registration) -> String {
    let mut v = serde_json::to_value(&r.metadata).unwrap();
    let o = v.as_object_mut().unwrap();
    o.insert("client_id".into(), r.client_id.clone().into());
    if let Some(c) = r.created_at {
        o.insert("created_at".into(), c.to_rfc3339().into());
    }
    match r.usage {
        Usage::LastUsed(t) => o.insert("last_used_at".into(), t.to_rfc3339().into()),
        Usage::Never => o.insert("last_used_at".into(), serde_json::Value::Null),
        Usage::Unknown => None,
    };
    v.to_string()
}

/// A store named `file` reading `lines` from a JSON Lines file in batches of `batch_size`
/// (the file lives as long as the directory returned).
pub(super) fn jsonl_store(
    lines: &[String],
    batch_size: u32,
) -> (tempfile::TempDir, crate::config::StoreConfig) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clients.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let store = crate::config::StoreConfig {
        name: "file".into(),
        kind: crate::config::StoreKind::Jsonl { path },
        batch_size,
        capacity: None,
        rows_per_second: None,
        usage_window: std::time::Duration::from_secs(86400),
    };
    (dir, store)
}

/// A full refresh ([`super::refresh`]) of the store `file` read from `lines`.
pub(super) async fn refresh_file(
    state: &State,
    scorer: &Scorer,
    lines: &[String],
    now: DateTime<Utc>,
) -> super::Refreshed {
    let (_dir, store) = jsonl_store(lines, 37);
    let source = crate::source::Source::open(&store).await.unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let scan = super::Scan {
        state,
        store: &store,
        source: &source,
        scorer,
        cimd: None,
        cancel: &cancel,
        progress: &super::no_progress,
    };
    super::refresh(&scan, ScanKind::Full, now).await.unwrap()
}

/// Runs full scans of a JSON Lines file through [`super::refresh`] and checks each against a
/// full judgement that builds its families from the state database.
async fn scan_file(state: &State, scorer: &Scorer, lines: &[String], now: DateTime<Utc>) -> u64 {
    let done = refresh_file(state, scorer, lines, now).await;
    let families = state.families("file").await.unwrap();
    let again = judge_store(state, "file", scorer, now, None, None)
        .await
        .unwrap();
    assert_eq!(again.changed, 0, "the two-pass judgement changed verdicts");
    let mut after = state.families("file").await.unwrap();
    let mut before = families;
    before.sort_by(|a, b| a.id.cmp(&b.id));
    after.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(before, after);
    done.judgement.judged
}

#[tokio::test]
async fn a_full_scan_judges_with_the_families_it_recorded() {
    let (state, _dir) = testing::sqlite().await;
    let scorer = Scorer::with_defaults();
    let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    let mut rng = Rng(17);
    let mut regs: Vec<Registration> = (0..300).map(|i| registration(&mut rng, i, now)).collect();
    let lines: Vec<String> = regs.iter().map(jsonl).collect();
    assert_eq!(scan_file(&state, &scorer, &lines, now).await, 300);

    // The file no longer says who was used nor when they registered: uses and creation
    // times on record stay, and the families count them.
    for r in &mut regs {
        (r.usage, r.created_at) = (Usage::Unknown, None);
    }
    let mut lines: Vec<String> = regs.iter().map(jsonl).collect();
    assert_eq!(scan_file(&state, &scorer, &lines, now).await, 300);
    // One client_id twice, in different batches: the judgement counts families itself.
    lines.push(jsonl(&regs[3]));
    assert_eq!(scan_file(&state, &scorer, &lines, now).await, 300);
}

/// A mark whose write never came (the process stopped between the two) hides no other: a
/// registration marked after more than a page of such marks is judged, and no mark is
/// left.
#[tokio::test]
async fn marks_of_registrations_never_written_hide_no_other() {
    let (state, _dir) = testing::sqlite().await;
    let scorer = Scorer::with_defaults();
    let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    for store in ["inc", "full"] {
        state.ensure_store(store, "jsonl", now).await.unwrap();
    }
    let mut rng = Rng(3);
    let mut regs: Vec<Registration> = (0..40).map(|i| registration(&mut rng, i, now)).collect();
    scan(&state, &regs, ScanKind::Full, now).await;
    for store in ["inc", "full"] {
        judge_store(&state, store, &scorer, now, None, None)
            .await
            .unwrap();
    }
    // Between c00038 and c00039 in client_id order.
    let ghosts: Vec<String> = (0..1500).map(|i| format!("c00038-{i:04}")).collect();
    let ghosts: Vec<&str> = ghosts.iter().map(String::as_str).collect();
    state.mark_stale("inc", &ghosts).await.unwrap();
    let last = regs.last_mut().unwrap();
    last.metadata.client_name = Some("Another Name Entirely".into());
    last.updated_at = Some(now + Duration::seconds(1));
    let changed = [last.clone()];
    scan(&state, &changed, ScanKind::Incremental, now).await;
    judge_both(&state, &scorer, now, "after marks never written").await;
}
