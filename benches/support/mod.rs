//! What the load generators in `benches/` (`nerve-loadgen`, `nerve-logbench`,
//! `nerve-scrapebench`, `nerve-tracebench`) share: the deterministic generator, the loopback
//! URL check, CPU time from `/proc`, query-string encoding and the concurrent push loop. Each
//! binary includes this file with `#[path = "../support/mod.rs"] mod support;`.
#![allow(dead_code)]

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub mod rng;

/// Parses `url` and rejects anything but a loopback `http://` URL (127.0.0.0/8, ::1 or
/// localhost): the generators must never load anything but this machine.
pub fn loopback_url(url: &str) -> Result<reqwest::Url> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("invalid URL {url:?}"))?;
    if parsed.scheme() != "http" {
        bail!("URL must be http://, got {url:?}");
    }
    let host = parsed.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("URL must point at a loopback address (127.0.0.1, ::1 or localhost), got {url:?}");
    }
    Ok(parsed)
}

/// CPU time (user + system) of process `pid` (a number or `self`) so far, in seconds, from
/// `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is index 0, utime 11 and stime 12
    // (fields 14 and 15 of proc(5)).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some((utime + stime) / 100.0)
}

/// [`cpu_seconds`] of another process, as an error when it cannot be read.
pub fn cpu_seconds_of(pid: u32) -> Result<f64> {
    cpu_seconds(&pid.to_string()).with_context(|| format!("reading /proc/{pid}/stat"))
}

/// Percent-encodes a query parameter (everything but unreserved characters).
pub fn encode_query(q: &str) -> String {
    q.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The value at quantile `p` (0..=1) of ascending `sorted` (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// POSTs every body of `bodies` to `url` as `application/x-protobuf` over `concurrency`
/// connections, each body once, in order of a shared counter. 429 and 503 (back-pressure) are
/// retried after 250 ms as a client library would; any other status that `accepted` refuses
/// fails the run. Every attempt checks `deadline`. `what` names the requests in errors.
pub async fn post_all(
    c: &reqwest::Client,
    url: &str,
    bodies: Arc<Vec<Vec<u8>>>,
    concurrency: usize,
    deadline: Instant,
    accepted: fn(reqwest::StatusCode) -> bool,
    what: &'static str,
) -> Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (c, url, bodies, next) = (c.clone(), url.to_owned(), bodies.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else {
                    return Ok::<_, anyhow::Error>(());
                };
                loop {
                    if Instant::now() > deadline {
                        bail!("time limit reached during {what}");
                    }
                    let r = c
                        .post(&url)
                        .header("Content-Type", "application/x-protobuf")
                        .body(body.clone())
                        .send()
                        .await?;
                    let status = r.status();
                    if matches!(status.as_u16(), 429 | 503) {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        continue;
                    }
                    if !accepted(status) {
                        bail!("{what} {i}: {status}: {}", r.text().await.unwrap_or_default());
                    }
                    break;
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}
