//! The monitoring contract (dashboards/): the dashboard and the alert rules use only the
//! metrics of README.md's Metrics table, the rules pass promtool's checks and unit tests, and
//! a real Prometheus scraping a running `regwarden demo` loads the rules and evaluates every
//! panel query and alert expression without error, with series behind the core panels (the
//! capacity ones included: the demo sets a capacity), and its /metrics passes `promtool check
//! metrics`.
//! Binaries: REGWARDEN_PROMTOOL and REGWARDEN_PROMETHEUS, else `promtool` and `prometheus`
//! from PATH (Debian's prometheus package, which scripts/test.sh installs).

use crate::harness::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// README.md's Metrics table (the histogram as its series), without the `regwarden_` prefix.
const CONTRACT: &str = "registrations registrations_created_total clusters
    duplicate_registrations largest_cluster_size unused_registrations inactive_registrations
    store_capacity store_capacity_used registration_rate_ratio actions_total actions_pending
    plan_refused_total scan_duration_seconds_bucket scan_duration_seconds_sum
    scan_duration_seconds_count scan_errors_total last_successful_scan_timestamp_seconds
    cimd_fetches_total build_info leader";

/// Panels whose every query must return series from a freshly scanned demo store.
#[rustfmt::skip]
const CORE_PANELS: [&str; 15] = [
    "Registrations", "Capacity used", "Capacity headroom", "Registrations by band", "Registrations by origin", "Stores", "Unused share",
    "Suspicious and malicious over time", "Malicious now", "Unused and inactive",
    "Scan duration", "Time since last successful scan", "Scan errors per hour",
    "Scans per hour, by kind", "regwarden version",
];

/// Grafana's variables as the dashboard would expand them for the demo store (longest first).
#[rustfmt::skip]
const GRAFANA_VARS: [(&str, &str); 11] = [
    ("${store:regex}", "demo"), ("${store}", "demo"), ("$store", "demo"),
    ("${__rate_interval}", "1m"), ("$__rate_interval", "1m"),
    ("$__interval_ms", "15000"), ("${__interval}", "15s"), ("$__interval", "15s"),
    ("$__range_s", "3600"), ("${__range}", "1h"), ("$__range", "1h"),
];

/// Scrapes regwarden and evaluates the rules every second.
const PROMETHEUS_YML: &str = "global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: ['RULES']
scrape_configs: [{job_name: regwarden, static_configs: [{targets: ['TARGET']}]}]
";

fn dashboards() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

fn read(file: &str) -> String {
    std::fs::read_to_string(dashboards().join(file)).unwrap()
}

/// Every panel, rows' nested panels included.
fn panels(d: &Value) -> Vec<&Value> {
    let top = d["panels"].as_array().expect("panels");
    let nested = top.iter().filter_map(|p| p["panels"].as_array()).flatten();
    top.iter().chain(nested).collect()
}

fn exprs(panel: &Value) -> Vec<&str> {
    let targets = panel["targets"].as_array().into_iter().flatten();
    targets.filter_map(|t| t["expr"].as_str()).collect()
}

#[test]
fn dashboard_and_rules_follow_the_metrics_contract() {
    let d: Value = serde_json::from_str(&read("regwarden.json")).expect("regwarden.json is JSON");
    assert!(
        d["schemaVersion"].as_u64() >= Some(39),
        "current Grafana schema"
    );
    let vars = d["templating"]["list"].as_array().unwrap();
    let var = |name: &str| vars.iter().find(|v| v["name"] == name).expect(name).clone();
    assert_eq!(var("datasource")["type"], "datasource");
    assert_eq!(var("datasource")["query"], "prometheus");
    assert_eq!(var("store")["type"], "query");
    let kinds = ["row", "timeseries", "stat", "gauge", "table", "bargauge"];
    let mut text = read("alerts.yml");
    for p in panels(&d) {
        let title = p["title"].as_str().unwrap();
        let kind = p["type"].as_str().unwrap();
        assert!(kinds.contains(&kind), "panel {title}: {kind}");
        let described = p["description"].as_str().is_some_and(|s| !s.is_empty());
        assert!(described, "panel {title} has no description");
        if p["type"] != "row" {
            assert!(!exprs(p).is_empty(), "panel {title} has no query");
            assert_eq!(p["datasource"]["uid"], "${datasource}", "panel {title}");
        }
        exprs(p).iter().for_each(|e| text += &format!("\n{e}"));
    }
    let words = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
    for name in words.filter_map(|w| w.strip_prefix("regwarden_")) {
        let known = CONTRACT.split_whitespace().any(|m| m == name);
        assert!(
            known,
            "regwarden_{name} is not in README.md's Metrics table"
        );
    }
    for title in CORE_PANELS {
        let found = panels(&d).iter().any(|p| p["title"] == title);
        assert!(found, "no panel {title:?}");
    }
}

/// The binary `var` names, else `default` if it runs, else need()'s failure.
fn binary(var: &str, default: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ if Command::new(default).arg("--version").output().is_ok() => default.to_owned(),
        _ => need(var),
    }
}

#[test]
#[ignore = "needs promtool: run scripts/test.sh"]
fn alert_rules_pass_promtool_checks_and_unit_tests() {
    let promtool = binary("REGWARDEN_PROMTOOL", "promtool");
    for (check, file) in [("check", "alerts.yml"), ("test", "alerts.test.yml")] {
        let args = [check, "rules", file];
        let mut cmd = Command::new(&promtool);
        let out = cmd.args(args).current_dir(dashboards()).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "promtool {}:\n{text}", args.join(" "));
    }
}

/// A child process, killed when dropped; `log` holds its stderr.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, mut cmd: Command, dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let stderr = std::fs::File::create(&log).unwrap();
        let child = cmd.stdout(Stdio::null()).stderr(stderr).spawn();
        let child = child.unwrap_or_else(|e| panic!("start {name}: {e}"));
        Proc { name, child, log }
    }

    /// Panics with the log if the process has exited.
    fn alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            panic!("{} exited with {status}:\n{log}", self.name);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The result of an instant query, or Prometheus's error.
async fn query(http: &reqwest::Client, prom: &str, q: &str) -> Result<Vec<Value>, String> {
    let req = http
        .get(format!("{prom}/api/v1/query"))
        .query(&[("query", q)]);
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let v: Value = resp.json().await.map_err(|e| e.to_string())?;
    match v["status"].as_str() {
        Some("success") => Ok(v["data"]["result"].as_array().cloned().unwrap_or_default()),
        _ => Err(format!("{}: {}", v["errorType"], v["error"])),
    }
}

async fn get(http: &reqwest::Client, url: &str) -> Option<String> {
    http.get(url).send().await.ok()?.text().await.ok()
}

async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    let text = get(http, url).await.unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

/// Polls `check` every 500 ms until it gives Some (the value of the whole), checking that
/// `procs` are still running; panics after `secs` seconds.
macro_rules! eventually {
    ($what:expr, $secs:expr, $procs:expr, $check:expr) => {{
        let deadline = Instant::now() + Duration::from_secs($secs);
        loop {
            $procs.iter_mut().for_each(Proc::alive);
            if let Some(v) = $check {
                break v;
            }
            assert!(Instant::now() < deadline, "no {} within {}s", $what, $secs);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }};
}

/// Prometheus's own linter on regwarden's exposition (names, types, HELP, units).
fn promtool_check_metrics(body: &str) {
    use std::io::Write;
    let mut check = Command::new(binary("REGWARDEN_PROMTOOL", "promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics:\n{said}"
    );
}

#[tokio::test]
#[ignore = "needs Prometheus: run scripts/test.sh"]
async fn prometheus_evaluates_every_panel_and_alert_against_a_running_regwarden() {
    let prometheus = binary("REGWARDEN_PROMETHEUS", "prometheus");
    let tmp = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30));
    let http = http.build().unwrap();

    // regwarden: the demo store, scanned every 2 s (in full every 10 s), /metrics kept up.
    let rw_addr = format!("127.0.0.1:{}", free_port());
    let mut rw = regwarden();
    rw.args(["demo", "--registrations", "2000"])
        .args(["--serve", &rw_addr, "--dir"])
        .arg(tmp.path().join("demo"))
        .env("REGWARDEN_SCHEDULE__SCAN", "*/2 * * * * *")
        .env("REGWARDEN_SCHEDULE__RECONCILE", "*/10 * * * * *");
    let mut procs = vec![Proc::spawn("regwarden", rw, tmp.path())];
    let metrics = format!("http://{rw_addr}/metrics");
    let body = eventually!("scan in regwarden's metrics", 300, procs, {
        let body = get(&http, &metrics).await.unwrap_or_default();
        let scanned = body.contains("regwarden_last_successful_scan_timestamp_seconds{");
        scanned.then_some(body)
    });
    promtool_check_metrics(&body);

    let prom_addr = format!("127.0.0.1:{}", free_port());
    let prom = format!("http://{prom_addr}");
    let config = tmp.path().join("prometheus.yml");
    let rules_file = dashboards().join("alerts.yml");
    let yml = PROMETHEUS_YML.replace("RULES", &rules_file.display().to_string());
    std::fs::write(&config, yml.replace("TARGET", &rw_addr)).unwrap();
    let tsdb = tmp.path().join("tsdb");
    let mut cmd = Command::new(&prometheus);
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", tsdb.display()))
        .arg(format!("--web.listen-address={prom_addr}"));
    procs.push(Proc::spawn("prometheus", cmd, tmp.path()));

    // Scraped a few times, and every rule evaluated at least once.
    eventually!("five scrapes of regwarden", 300, procs, {
        let r = query(
            &http,
            &prom,
            "count_over_time(regwarden_build_info[5m]) >= 5",
        )
        .await;
        r.ok().filter(|r| !r.is_empty())
    });
    let targets = get_json(&http, &format!("{prom}/api/v1/targets")).await;
    let health = &targets["data"]["activeTargets"][0]["health"];
    assert_eq!(health, "up", "{targets}");
    let rules: Vec<Value> = eventually!("evaluation of every rule", 300, procs, {
        let v = get_json(&http, &format!("{prom}/api/v1/rules")).await;
        let groups = v["data"]["groups"].as_array().cloned().unwrap_or_default();
        let rules = groups.iter().filter_map(|g| g["rules"].as_array());
        let rules: Vec<Value> = rules.flatten().cloned().collect();
        let evaluated = rules.iter().all(|r| r["health"] != "unknown");
        (!rules.is_empty() && evaluated).then_some(rules)
    });
    let mut loaded: Vec<&str> = rules.iter().map(|r| r["name"].as_str().unwrap()).collect();
    let text = read("alerts.yml");
    let alerts = text.lines().map(str::trim);
    let mut alerts: Vec<&str> = alerts.filter_map(|l| l.strip_prefix("- alert: ")).collect();
    loaded.sort();
    alerts.sort();
    assert_eq!(loaded, alerts, "Prometheus loaded every rule of alerts.yml");

    let bad = r#"regwarden_registrations{band="malicious"} > 0"#;
    let malicious = !query(&http, &prom, bad).await.unwrap().is_empty();
    let mut errors = Vec::new();
    for r in &rules {
        let name = r["name"].as_str().unwrap();
        if r["health"] != "ok" {
            errors.push(format!("rule {name}: {} {}", r["health"], r["lastError"]));
        }
        if let Err(e) = query(&http, &prom, r["query"].as_str().unwrap()).await {
            errors.push(format!("rule {name}: {e}"));
        }
        // The demo's malicious registrations page; a healthy regwarden's scans do not.
        let expected = match name {
            "RegwardenMaliciousRegistration" if malicious => "firing",
            _ if name.contains("Scans") || name.ends_with("Absent") => "inactive",
            _ => continue,
        };
        if r["state"] != expected {
            errors.push(format!("rule {name}: {}, not {expected}", r["state"]));
        }
    }

    let d: Value = serde_json::from_str(&read("regwarden.json")).unwrap();
    let mut evaluated = 0;
    for p in panels(&d) {
        let title = p["title"].as_str().unwrap();
        for expr in exprs(p) {
            let mut q = expr.to_owned();
            GRAFANA_VARS
                .iter()
                .for_each(|(var, x)| q = q.replace(var, x));
            assert!(!q.contains('$'), "panel {title}: unknown variable in {q}");
            evaluated += 1;
            match query(&http, &prom, &q).await {
                Err(e) => errors.push(format!("panel {title:?}: {e}\n  {q}")),
                Ok(s) if s.is_empty() && CORE_PANELS.contains(&title) => {
                    errors.push(format!("core panel {title:?} has no series:\n  {q}"))
                }
                Ok(_) => {}
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let n = rules.len();
    eprintln!("Prometheus evaluated {evaluated} panel queries and {n} alert expressions");
}
