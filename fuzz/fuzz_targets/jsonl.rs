//! JSON Lines reading: the capped line reader over any bytes (chunked at odd sizes), then
//! each line parsed into a record. Lines never exceed the cap or hold a newline; warnings
//! and refusal reasons are safe to display.
//!
//!   cd fuzz && cargo fuzz run jsonl      (see fuzz/README.md)
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use regwarden::source::jsonl::{parse_line, read_line_capped};
use std::sync::OnceLock;
use tokio::io::BufReader;

const CAP: usize = 512;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    });
    rt.block_on(async {
        // A small, input-chosen buffer size makes lines straddle buffer refills.
        let mut reader = BufReader::with_capacity(usize::from(chunk % 64) + 1, data);
        let mut expected = data.split(|&b| b == b'\n').collect::<Vec<_>>();
        if data.last() == Some(&b'\n') || data.is_empty() {
            expected.pop();
        }
        let mut buf = Vec::new();
        let mut n = 0;
        loop {
            buf.clear();
            let Some(too_long) = read_line_capped(&mut reader, &mut buf, CAP)
                .await
                .expect("reading memory cannot fail")
            else {
                break;
            };
            let want = expected[n];
            n += 1;
            assert_eq!(too_long, want.len() > CAP, "cap decision for line {n}");
            if !too_long {
                assert_eq!(buf, want, "line {n} read whole and unchanged");
            }
            assert!(buf.len() <= CAP && !buf.contains(&b'\n'));
            let text = String::from_utf8_lossy(&buf);
            match parse_line(&text, format!("line {n}")) {
                Ok(record) => {
                    for w in &record.warnings {
                        common::assert_displayable("a line warning", w);
                    }
                    if let Ok((_, warnings)) = record.into_registration() {
                        for w in &warnings {
                            common::assert_displayable("a record warning", w);
                        }
                    }
                }
                Err(refused) => common::assert_displayable("a refusal", &refused.reason),
            }
        }
        assert_eq!(n, expected.len(), "every line read once");
    });
});
