//! Prometheus metrics: one struct owning its registry, names and help text in one place.
//! Label values are store names (from config) and fixed enums only, never registration data.

use crate::model::{Band, Origin};
use crate::state::{FamilyStats, LiveCounts};
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The `software` label of registrations that match no catalog client.
pub const SOFTWARE_OTHER: &str = "other";

pub struct Metrics {
    registry: Registry,
    pub registrations: IntGaugeVec,
    pub registrations_created_total: IntCounterVec,
    pub clusters: IntGaugeVec,
    pub duplicate_registrations: IntGaugeVec,
    pub largest_cluster_size: IntGaugeVec,
    pub store_capacity: IntGaugeVec,
    pub store_capacity_used: IntGaugeVec,
    pub registration_rate_ratio: GaugeVec,
    pub unused_registrations: IntGaugeVec,
    pub inactive_registrations: IntGaugeVec,
    pub scan_duration_seconds: HistogramVec,
    pub scan_errors_total: IntCounterVec,
    pub last_successful_scan_timestamp_seconds: GaugeVec,
    pub actions_total: IntCounterVec,
    pub actions_pending: IntGaugeVec,
    pub plan_refused_total: IntCounterVec,
    pub cimd_fetches_total: IntCounterVec,
    pub build_info: IntGaugeVec,
    /// 1 while this process leads (scans and acts), 0 while it stands by.
    pub leader: IntGauge,
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("regwarden")
}

impl Metrics {
    pub fn new() -> Metrics {
        let m = Metrics {
            registry: Registry::new(),
            registrations: IntGaugeVec::new(
                opts(
                    "registrations",
                    "Registrations in the store now, by trust band and origin.",
                ),
                &["store", "band", "origin"],
            )
            .expect("valid metric"),
            registrations_created_total: IntCounterVec::new(
                opts(
                    "registrations_created_total",
                    "New registrations observed in the store.",
                ),
                &["store", "software"],
            )
            .expect("valid metric"),
            clusters: IntGaugeVec::new(
                opts(
                    "clusters",
                    "Client families (registrations of one client software) in the store.",
                ),
                &["store"],
            )
            .expect("valid metric"),
            duplicate_registrations: IntGaugeVec::new(
                opts(
                    "duplicate_registrations",
                    "Registrations beyond the first of each family.",
                ),
                &["store"],
            )
            .expect("valid metric"),
            largest_cluster_size: IntGaugeVec::new(
                opts(
                    "largest_cluster_size",
                    "Registrations in the biggest family.",
                ),
                &["store"],
            )
            .expect("valid metric"),
            store_capacity: IntGaugeVec::new(
                opts("store_capacity", "Most registrations the authorization server accepts (its cap, e.g. Keycloak's Max Clients)."),
                &["store"],
            )
            .expect("valid metric"),
            store_capacity_used: IntGaugeVec::new(
                opts("store_capacity_used", "Registrations counting against the store's cap."),
                &["store"],
            )
            .expect("valid metric"),
            registration_rate_ratio: GaugeVec::new(
                opts(
                    "registration_rate_ratio",
                    "Registrations created in the last hour over the trailing 7-day hourly average (at least 1 per hour).",
                ),
                &["store"],
            )
            .expect("valid metric"),
            unused_registrations: IntGaugeVec::new(
                opts("unused_registrations", "Live registrations never used."),
                &["store"],
            )
            .expect("valid metric"),
            inactive_registrations: IntGaugeVec::new(
                opts(
                    "inactive_registrations",
                    "Live registrations older than the inactivity limit and not used within it.",
                ),
                &["store"],
            )
            .expect("valid metric"),
            scan_duration_seconds: HistogramVec::new(
                HistogramOpts::from(opts(
                    "scan_duration_seconds",
                    "Duration of completed scans, by kind (full or incremental).",
                ))
                .buckets(vec![
                    0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
                ]),
                &["store", "kind"],
            )
            .expect("valid metric"),
            scan_errors_total: IntCounterVec::new(
                opts("scan_errors_total", "Scans that failed."),
                &["store"],
            )
            .expect("valid metric"),
            last_successful_scan_timestamp_seconds: GaugeVec::new(
                opts(
                    "last_successful_scan_timestamp_seconds",
                    "Unix time of the last successful scan.",
                ),
                &["store"],
            )
            .expect("valid metric"),
            actions_total: IntCounterVec::new(
                opts(
                    "actions_total",
                    "Actions taken (mode=enforce) or simulated (mode=dry-run), by outcome.",
                ),
                &["store", "action", "outcome", "mode"],
            )
            .expect("valid metric"),
            actions_pending: IntGaugeVec::new(
                opts(
                    "actions_pending",
                    "Actions of the latest plan not yet applied.",
                ),
                &["store", "action"],
            )
            .expect("valid metric"),
            plan_refused_total: IntCounterVec::new(
                opts(
                    "plan_refused_total",
                    "Plans refused whole by the blast-radius limits or bad rules.",
                ),
                &["store"],
            )
            .expect("valid metric"),
            cimd_fetches_total: IntCounterVec::new(
                opts(
                    "cimd_fetches_total",
                    "Client ID Metadata Document fetches, by outcome (verified, mismatch, refused, failed).",
                ),
                &["outcome"],
            )
            .expect("valid metric"),
            build_info: IntGaugeVec::new(
                opts(
                    "build_info",
                    "Always 1; the version label says which build runs.",
                ),
                &["version"],
            )
            .expect("valid metric"),
            leader: IntGauge::with_opts(opts(
                "leader",
                "1 while this process is the replica that scans and acts (always, on a SQLite state database); 0 while it stands by.",
            ))
            .expect("valid metric"),
        };
        for c in [
            Box::new(m.registrations.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.registrations_created_total.clone()),
            Box::new(m.clusters.clone()),
            Box::new(m.duplicate_registrations.clone()),
            Box::new(m.largest_cluster_size.clone()),
            Box::new(m.store_capacity.clone()),
            Box::new(m.store_capacity_used.clone()),
            Box::new(m.registration_rate_ratio.clone()),
            Box::new(m.unused_registrations.clone()),
            Box::new(m.inactive_registrations.clone()),
            Box::new(m.scan_duration_seconds.clone()),
            Box::new(m.scan_errors_total.clone()),
            Box::new(m.last_successful_scan_timestamp_seconds.clone()),
            Box::new(m.actions_total.clone()),
            Box::new(m.actions_pending.clone()),
            Box::new(m.plan_refused_total.clone()),
            Box::new(m.cimd_fetches_total.clone()),
            Box::new(m.build_info.clone()),
            Box::new(m.leader.clone()),
        ] {
            m.registry.register(c).expect("metric names are unique");
        }
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for o in crate::fetch::Outcome::ALL {
            m.cimd_fetches_total.with_label_values(&[o.as_str()]);
        }
        m
    }

    /// Drops every store series (a replica that lost its leadership): what it last scanned
    /// or did is the new leader's to report, and a stale copy would be counted twice.
    pub fn clear_stores(&self) {
        self.registrations.reset();
        self.registrations_created_total.reset();
        self.clusters.reset();
        self.duplicate_registrations.reset();
        self.largest_cluster_size.reset();
        self.store_capacity.reset();
        self.store_capacity_used.reset();
        self.registration_rate_ratio.reset();
        self.unused_registrations.reset();
        self.inactive_registrations.reset();
        self.scan_duration_seconds.reset();
        self.scan_errors_total.reset();
        self.last_successful_scan_timestamp_seconds.reset();
        self.actions_total.reset();
        self.actions_pending.reset();
        self.plan_refused_total.reset();
    }

    /// Makes a store's series exist from start-up, so alerts see zero rather than nothing.
    /// `software` is every label value `registrations_created_total` can take (the catalog's
    /// ids and `other`): zero series let `rate()` and `increase()` see the first event.
    pub fn init_store(&self, store: &str, software: &[String], capacity: Option<u64>) {
        self.scan_errors_total.with_label_values(&[store]);
        for s in software.iter().map(String::as_str).chain([SOFTWARE_OTHER]) {
            self.registrations_created_total
                .with_label_values(&[store, s]);
        }
        if let Some(c) = capacity {
            self.store_capacity
                .with_label_values(&[store])
                .set(c as i64);
        }
        self.plan_refused_total.with_label_values(&[store]);
        for action in crate::policy::ActionKind::ALL {
            let action = action.as_str();
            self.actions_total
                .with_label_values(&[store, action, "error", "enforce"]);
            self.actions_pending.with_label_values(&[store, action]);
        }
    }

    /// Sets a store's gauges from the state database. Every band × origin pair is written,
    /// so a combination that emptied reads 0 instead of lingering.
    pub fn set_live(&self, store: &str, live: &LiveCounts) {
        for band in Band::ALL {
            for origin in Origin::ALL {
                let n = live
                    .by_band_origin
                    .get(&(band, origin))
                    .copied()
                    .unwrap_or(0);
                self.registrations
                    .with_label_values(&[store, band.as_str(), origin.as_str()])
                    .set(n as i64);
            }
        }
        self.unused_registrations
            .with_label_values(&[store])
            .set(live.unused as i64);
        self.inactive_registrations
            .with_label_values(&[store])
            .set(live.inactive as i64);
    }

    pub fn set_families(&self, store: &str, f: &FamilyStats) {
        self.clusters
            .with_label_values(&[store])
            .set(f.families as i64);
        self.duplicate_registrations
            .with_label_values(&[store])
            .set(f.duplicates as i64);
        self.largest_cluster_size
            .with_label_values(&[store])
            .set(f.largest as i64);
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("encoding to memory");
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_contract_names() {
        let m = Metrics::new();
        m.init_store("s", &["claude-code".to_owned()], Some(200));
        m.set_live("s", &LiveCounts::default());
        m.scan_duration_seconds
            .with_label_values(&["s", "full"])
            .observe(0.2);
        m.last_successful_scan_timestamp_seconds
            .with_label_values(&["s"])
            .set(1.0);
        m.registrations_created_total
            .with_label_values(&["s", SOFTWARE_OTHER])
            .inc();
        let text = m.encode();
        for name in [
            "regwarden_registrations{band=\"malicious\",origin=\"dcr\",store=\"s\"} 0",
            "regwarden_registrations_created_total{software=\"other\",store=\"s\"} 1",
            "regwarden_registrations_created_total{software=\"claude-code\",store=\"s\"} 0",
            "regwarden_store_capacity{store=\"s\"} 200",
            "regwarden_unused_registrations{store=\"s\"} 0",
            "regwarden_inactive_registrations{store=\"s\"} 0",
            "regwarden_scan_duration_seconds_bucket{kind=\"full\",store=\"s\",le=\"0.5\"} 1",
            "regwarden_scan_errors_total{store=\"s\"} 0",
            "regwarden_last_successful_scan_timestamp_seconds{store=\"s\"} 1",
            "regwarden_build_info{version=",
            "regwarden_plan_refused_total{store=\"s\"} 0",
            "regwarden_cimd_fetches_total{outcome=\"verified\"} 0",
            "regwarden_cimd_fetches_total{outcome=\"refused\"} 0",
            "regwarden_actions_total{action=\"delete\",mode=\"enforce\",outcome=\"error\",store=\"s\"} 0",
            "regwarden_actions_pending{action=\"quarantine\",store=\"s\"} 0",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
    }
}
