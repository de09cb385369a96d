//! Family fingerprints and templates.

use super::*;

fn meta(name: &str, redirects: &[&str]) -> ClientMetadata {
    ClientMetadata {
        client_name: Some(name.into()),
        redirect_uris: redirects.iter().map(|s| s.to_string()).collect(),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        response_types: vec!["code".into()],
        token_endpoint_auth_method: "none".into(),
        ..Default::default()
    }
}

#[test]
fn installs_of_one_client_share_a_family() {
    let a = fingerprint(&meta(
        "Claude Code (github)",
        &["http://localhost:5555/callback"],
    ));
    let b = fingerprint(&meta(
        "Claude Code (linear)",
        &["http://localhost:41234/callback"],
    ));
    assert_eq!(a, b);
    let other = fingerprint(&meta("Claude Code", &["https://evil.example/callback"]));
    assert_ne!(a, other);
    let vs1 = fingerprint(&meta(
        "Visual Studio Code",
        &["https://vscode.dev/redirect", "http://127.0.0.1:33418/"],
    ));
    let vs2 = fingerprint(&meta(
        "Visual Studio Code",
        &["http://127.0.0.1:33418/", "https://vscode.dev/redirect"],
    ));
    assert_eq!(vs1, vs2, "order does not matter");
}

#[test]
fn ids_are_stable_across_runs_and_machines() {
    // Pinned: changing the fingerprint changes every family id operators have seen.
    let id = fingerprint(&meta("Claude Code (x)", &["http://localhost:1/callback"]));
    assert_eq!(id.to_string().len(), 16);
    assert_eq!(
        id.to_string(),
        fingerprint(&meta("claude code", &["http://localhost:2/callback"])).to_string()
    );
}

#[test]
fn templates_drop_per_flow_parts() {
    assert_eq!(
        redirect_template("http://127.0.0.1:4242/cb?state=abc&x=1#frag"),
        "http://loopback:*/cb?state&x"
    );
    assert_eq!(
        redirect_template("http://localhost/cb"),
        "http://loopback:*/cb"
    );
    assert_eq!(
        redirect_template("https://app.example:8443/cb"),
        "https://app.example:8443/cb"
    );
    assert_eq!(redirect_template("not a uri"), "not a uri");
}

#[test]
fn taking_members_out_gives_the_family_of_those_left() {
    // A small xorshift: the demo's generator lives in a module above this one.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let id = fingerprint(&meta("x", &[]));
    for _ in 0..200 {
        let members: Vec<Member> = (0..1 + rng.below(60))
            .map(|_| Member {
                family: id,
                name: "x".into(),
                software: [None, Some("a"), Some("b")][rng.below(3) as usize].map(str::to_owned),
                used: rng.below(2) == 0,
                admin: rng.below(5) == 0,
                created: (rng.below(4) != 0).then(|| rng.below(1000) as i64),
                sites: (0..rng.below(4))
                    .map(|_| format!("s{:02}.example", rng.below(50)))
                    .collect(),
                named: rng.below(2) == 0,
            })
            .collect();
        let mut index = FamilyIndex::default();
        for m in &members {
            index.add(m);
        }
        let (mut left, mut recount) = (Vec::new(), Recount::default());
        for m in &members {
            if rng.below(3) == 0 {
                let r = index.remove(m);
                recount.software |= r.software;
                recount.sites |= r.sites;
                recount.bounds |= r.bounds;
            } else {
                left.push(m.clone());
            }
        }
        let mut fresh = FamilyIndex::default();
        for m in &left {
            fresh.add(m);
        }
        let (Some(f), Some(expected)) = (index.get_mut(&id), fresh.get(&id)) else {
            assert!(left.is_empty() && index.get(&id).is_none());
            continue;
        };
        if recount.software {
            f.recount_software(left.iter().filter_map(|m| m.software.as_deref()));
        }
        if recount.sites {
            f.recount_sites(left.iter().map(|m| &m.sites));
        }
        if recount.bounds {
            f.first_created = left.iter().filter_map(|m| m.created).min();
            f.last_created = left.iter().filter_map(|m| m.created).max();
        }
        // Creation times are read again where needed, not kept through removals.
        f.created.clone_from(&expected.created);
        assert_eq!(f, expected);
    }
}

/// Counting near a time gives what a binary search of the whole list gives, however the
/// times spread (even, bunched, repeated, at the ends of `i64`).
#[test]
fn created_near_agrees_with_a_binary_search() {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let shapes: [fn(u64, usize) -> i64; 5] = [
        |r, _| 1_785_000_000 + (r % 10_000_000) as i64,
        |r, i| {
            1_785_000_000
                + if i % 10 == 0 {
                    (r % 10_000_000) as i64
                } else {
                    (r % 600) as i64
                }
        },
        |r, _| 1_785_000_000 + (r % 3) as i64,
        |r, _| {
            if r % 2 == 0 {
                i64::MIN + (r % 5) as i64
            } else {
                i64::MAX - (r % 5) as i64
            }
        },
        |r, _| r as i64,
    ];
    for shape in shapes {
        for n in [0usize, 1, 2, 3, 10, 1000] {
            let mut created: Vec<i64> = (0..n).map(|i| shape(next(), i)).collect();
            created.sort_unstable();
            let f = Family {
                created,
                ..Family::default()
            };
            let probes: Vec<i64> = f
                .created
                .iter()
                .copied()
                .chain((0..50).map(|i| shape(next(), i)))
                .chain([i64::MIN, i64::MAX, 0])
                .collect();
            for t in probes {
                for window in [0, 1, 300, i64::MAX] {
                    let lo = f.created.partition_point(|&c| c < t.saturating_sub(window));
                    let hi = f
                        .created
                        .partition_point(|&c| c <= t.saturating_add(window));
                    assert_eq!(
                        f.created_near(t, window),
                        hi - lo,
                        "t {t}, window {window}, n {n}"
                    );
                }
            }
        }
    }
}
