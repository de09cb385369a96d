//! Real local https servers for tests (rustls, a self-signed certificate the test client
//! trusts) and a test resolver. Only 127.0.0.1 is exempt from the address rules, and only in
//! [`fetcher`]'s client; servers meant to stay unreached listen on 127.0.0.2, and each counts
//! the connections it accepted.

use super::{FetchError, Fetched, Fetcher, Lookup, Refusal, Settings};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const NAMES: &[&str] = &["good.test", "evil.test", "rebind.test", "mixed.test"];

#[derive(Clone, Default)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// Send no Content-Length: the body ends when the connection closes.
    pub no_length: bool,
    /// Wait this long before answering.
    pub delay: Duration,
}

pub(crate) fn ok(body: &str, headers: &[(&'static str, &str)]) -> Reply {
    Reply {
        status: 200,
        headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        body: body.as_bytes().to_vec(),
        ..Reply::default()
    }
}

pub(crate) struct Server {
    pub port: u16,
    /// Connections accepted.
    pub accepted: Arc<AtomicUsize>,
    /// The most connections open at once.
    pub most_at_once: Arc<AtomicUsize>,
}

/// The certificate for every test name, and its DER for the client to trust.
pub(crate) fn certificate() -> (Vec<u8>, Vec<u8>) {
    let names: Vec<String> = NAMES.iter().map(|s| s.to_string()).collect();
    let ck = rcgen::generate_simple_self_signed(names).unwrap();
    (ck.cert.der().to_vec(), ck.key_pair.serialize_der())
}

/// An https server on `ip` answering each path from `replies` (404 otherwise).
pub(crate) async fn serve(
    ip: &str,
    cert: &(Vec<u8>, Vec<u8>),
    replies: HashMap<&'static str, Reply>,
) -> Server {
    serve_with(ip, cert, |_| replies).await
}

/// As [`serve`], the replies made knowing the server's port.
pub(crate) async fn serve_with(
    ip: &str,
    cert: &(Vec<u8>, Vec<u8>),
    replies: impl FnOnce(u16) -> HashMap<&'static str, Reply>,
) -> Server {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(cert.0.clone())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.1.clone())),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (accepted, most_at_once) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let replies = Arc::new(replies(port));
    let (a, m) = (accepted.clone(), most_at_once.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            a.fetch_add(1, Ordering::SeqCst);
            let (acceptor, replies, in_flight, m) = (
                acceptor.clone(),
                replies.clone(),
                in_flight.clone(),
                m.clone(),
            );
            tokio::spawn(async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&request);
                    let path = text.split(' ').nth(1).unwrap_or("/").to_owned();
                    let reply = replies.get(path.as_str()).cloned().unwrap_or(Reply {
                        status: 404,
                        ..Reply::default()
                    });
                    tokio::time::sleep(reply.delay).await;
                    let mut head = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", reply.status);
                    if !reply.no_length {
                        head += &format!("Content-Length: {}\r\n", reply.body.len());
                    }
                    for (k, v) in &reply.headers {
                        head += &format!("{k}: {v}\r\n");
                    }
                    head += "\r\n";
                    let _ = tls.write_all(head.as_bytes()).await;
                    let _ = tls.write_all(&reply.body).await;
                    let _ = tls.shutdown().await;
                }
                in_flight.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    Server {
        port,
        accepted,
        most_at_once,
    }
}

/// A resolver from a table; a name may resolve differently on each call (DNS rebinding).
pub(crate) fn resolver(
    table: &[(&'static str, Vec<Vec<&'static str>>)],
) -> (Lookup, Arc<AtomicUsize>) {
    let table: HashMap<&str, Vec<Vec<IpAddr>>> = table
        .iter()
        .map(|(n, answers)| {
            let answers = answers
                .iter()
                .map(|a| a.iter().map(|ip| ip.parse().unwrap()).collect())
                .collect();
            (*n, answers)
        })
        .collect();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let c = calls.clone();
    let lookup: Lookup = Arc::new(move |name: String| {
        c.fetch_add(1, Ordering::SeqCst);
        let mut seen = seen.lock().unwrap();
        let n = seen.entry(name.clone()).or_default();
        let answer = table
            .get(name.as_str())
            .map(|a| a[(*n).min(a.len() - 1)].clone());
        *n += 1;
        Box::pin(async move {
            answer.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, name))
        })
    });
    (lookup, calls)
}

pub(crate) fn fetcher(lookup: Lookup, cert: &(Vec<u8>, Vec<u8>), settings: Settings) -> Fetcher {
    Fetcher::for_tests(settings, lookup, &cert.0, "127.0.0.1".parse().unwrap())
}

pub(crate) fn refusal(r: Result<Fetched, FetchError>) -> Refusal {
    match r {
        Err(FetchError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}
