//! Drains one destination's queue: batches records into requests, retries with exponential
//! back-off what the receiver may take later, and gives up on what it refuses for good.
//!
//! Classification, as Prometheus' remote-write client does: 2xx is delivered; 5xx, 429, 408
//! and transport errors are retried (honouring `Retry-After` up to the maximum back-off);
//! any other 4xx means the receiver will never take the data, so it is dropped and counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};

use super::queue::{Batch, DiskQueue};
use crate::credentials::Credentials;

/// First retry delay.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest retry delay.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How long an idle sender sleeps before looking at the queue again without a wake-up.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// What a destination speaks; decides batching and request shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Prometheus remote write: records are uncompressed 1.0 `WriteRequest`s; several are
    /// concatenated (protobuf merges repeated fields) and snappy-compressed per request, or
    /// converted to a 2.0 `Request` (with its symbol table) for 2.0 destinations.
    RemoteWrite,
    /// OTLP/HTTP protobuf: a record is `[signal][Export*ServiceRequest]`, one per request, sent
    /// to `<url>/v1/<signal>`.
    Otlp,
    /// Loki push: a record is a snappy-compressed protobuf `PushRequest` (what promtail
    /// sends), one per request, sent to the URL as is.
    Loki,
}

/// OTLP signals, the first byte of an OTLP record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// `/v1/traces`.
    Traces = 1,
    /// `/v1/logs`.
    Logs = 2,
    /// `/v1/metrics`.
    Metrics = 3,
}

impl Signal {
    fn from_byte(b: u8) -> Option<Signal> {
        match b {
            1 => Some(Signal::Traces),
            2 => Some(Signal::Logs),
            3 => Some(Signal::Metrics),
            _ => None,
        }
    }

    fn path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Logs => "/v1/logs",
            Signal::Metrics => "/v1/metrics",
        }
    }
}

/// Counters of one destination, exported as self-metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// Records delivered.
    pub sent: AtomicU64,
    /// Requests that failed and will be retried.
    pub failed: AtomicU64,
}

/// One forwarding destination.
#[derive(Debug)]
pub struct Destination {
    /// The configured URL.
    pub url: String,
    /// What it speaks.
    pub protocol: Protocol,
    /// Its on-disk queue.
    pub queue: Arc<DiskQueue>,
    /// Its counters.
    pub stats: Stats,
    pub(super) client: reqwest::Client,
    pub(super) credentials: Credentials,
    pub(super) headers: HeaderMap,
    /// Send remote write 2.0 instead of 1.0.
    pub(super) remote_write_v2: bool,
}

/// What one delivery attempt came to.
enum Outcome {
    Delivered,
    /// The receiver refused for good (status and body).
    Rejected(u16, String),
    /// Try again after at least this long.
    Retry(Option<Duration>, String),
}

impl Destination {
    /// Sends until `stop` resolves; the queue keeps whatever was not delivered.
    pub async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut backoff = MIN_BACKOFF;
        loop {
            let queue = self.queue.clone();
            let (max_records, max_bytes) = match self.protocol {
                Protocol::RemoteWrite => (500, 4 << 20),
                Protocol::Otlp | Protocol::Loki => (1, usize::MAX),
            };
            let batch = match tokio::task::spawn_blocking(move || queue.peek(max_records, max_bytes)).await {
                Ok(Ok(b)) => b,
                Ok(Err(e)) => {
                    tracing::error!(url = %self.url, error = %e, "reading the forwarding queue failed");
                    tokio::select! { _ = &mut stop => return, _ = tokio::time::sleep(IDLE_POLL) => continue }
                }
                Err(_) => return,
            };
            if batch.records.is_empty() {
                tokio::select! {
                    _ = &mut stop => return,
                    _ = self.queue.appended() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                }
                continue;
            }
            let outcome = tokio::select! {
                _ = &mut stop => return,
                o = self.deliver(&batch) => o,
            };
            match outcome {
                Outcome::Delivered => {
                    backoff = MIN_BACKOFF;
                    self.stats.sent.fetch_add(batch.records.len() as u64, Ordering::Relaxed);
                    self.ack(&batch);
                }
                Outcome::Rejected(status, body) => {
                    backoff = MIN_BACKOFF;
                    tracing::warn!(url = %self.url, status, body = %body.trim(), records = batch.records.len(), "forwarding destination refused data for good; dropped");
                    self.queue.count_dropped(batch.records.len() as u64);
                    self.ack(&batch);
                }
                Outcome::Retry(after, why) => {
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    let wait = after.unwrap_or(backoff).clamp(MIN_BACKOFF, MAX_BACKOFF);
                    tracing::debug!(url = %self.url, error = %why, retry_in = ?wait, "forwarding failed; will retry");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    tokio::select! { _ = &mut stop => return, _ = tokio::time::sleep(wait) => {} }
                }
            }
        }
    }

    fn ack(&self, batch: &Batch) {
        if let Err(e) = self.queue.ack(batch) {
            tracing::error!(url = %self.url, error = %e, "saving the forwarding queue position failed");
        }
    }

    async fn deliver(&self, batch: &Batch) -> Outcome {
        let (url, body, content_encoding) = match self.protocol {
            Protocol::RemoteWrite => {
                let mut raw: Vec<u8> = batch.records.concat();
                if self.remote_write_v2 {
                    use prost::Message as _;
                    match nerve_proto::prompb::WriteRequest::decode(raw.as_slice()) {
                        Ok(v1) => raw = nerve_proto::v1_to_v2(&v1).encode_to_vec(),
                        Err(e) => return Outcome::Rejected(0, format!("corrupt queued write request: {e}")),
                    }
                }
                match snap::raw::Encoder::new().compress_vec(&raw) {
                    Ok(b) => (self.url.clone(), b, Some("snappy")),
                    Err(e) => return Outcome::Rejected(0, format!("snappy: {e}")),
                }
            }
            Protocol::Otlp => {
                let rec = &batch.records[0];
                let Some(signal) = rec.first().copied().and_then(Signal::from_byte) else {
                    return Outcome::Rejected(0, "corrupt OTLP queue record".into());
                };
                let url = format!("{}{}", self.url.trim_end_matches('/'), signal.path());
                (url, rec[1..].to_vec(), None)
            }
            Protocol::Loki => (self.url.clone(), batch.records[0].clone(), None),
        };
        let content_type = if self.remote_write_v2 {
            "application/x-protobuf;proto=io.prometheus.write.v2.Request"
        } else {
            "application/x-protobuf"
        };
        let mut req = self
            .client
            .post(&url)
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static(content_type))
            .body(body);
        if let Some(enc) = content_encoding {
            req = req.header(CONTENT_ENCODING, enc);
        }
        if self.protocol == Protocol::RemoteWrite {
            let version = if self.remote_write_v2 { "2.0.0" } else { "0.1.0" };
            req = req.header("X-Prometheus-Remote-Write-Version", version);
        }
        let req = match self.credentials.apply(req) {
            Ok(r) => r,
            Err(e) => return Outcome::Retry(None, e),
        };
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let after = resp
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                if (200..300).contains(&status) {
                    return Outcome::Delivered;
                }
                let body = resp.text().await.unwrap_or_default();
                let body: String = body.chars().take(512).collect();
                if status >= 500 || status == 429 || status == 408 {
                    Outcome::Retry(after, format!("HTTP {status}: {body}"))
                } else {
                    Outcome::Rejected(status, body)
                }
            }
            Err(e) => Outcome::Retry(None, e.to_string()),
        }
    }
}
