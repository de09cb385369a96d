//! `regwarden cimd URL`: fetch and check one Client ID Metadata Document exactly as the
//! daemon does (same client, same rules), and say why when it is refused.

use crate::config::FetchConfig;
use crate::escape::esc;
use crate::fetch::{Cimd, CimdError, Fetcher};
use std::process::ExitCode;

pub(super) async fn cimd(fetch: &FetchConfig, url: &str) -> anyhow::Result<ExitCode> {
    let fetcher = Fetcher::new(fetch.settings)?;
    let checked = Cimd::new(fetcher, None).check(url, None).await;
    match checked {
        Ok(doc) => {
            println!("verified: {}", esc(url));
            println!(
                "  client_name: {}",
                doc.client_name
                    .as_deref()
                    .map(esc)
                    .map_or("(none)".into(), |n| n.to_string())
            );
            for u in &doc.redirect_uris {
                println!("  redirect_uri: {}", esc(u));
            }
            println!(
                "  token_endpoint_auth_method: {}",
                doc.token_endpoint_auth_method
                    .as_deref()
                    .map_or("(not given)".into(), |m| esc(m).to_string())
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let kind = match e {
                CimdError::Refused(_) | CimdError::Mismatch(_) => "",
                CimdError::Failed(_) => "failed: ",
            };
            println!("{kind}{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
