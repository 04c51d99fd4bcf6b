//! Forwarding for scale-out: a copy of what nerve stores goes to other backends, through an
//! on-disk queue per destination, so nerve can be the edge agent of a distributed store.
//!
//! - `forward.remote_write` (and Prometheus' own `remote_write:` entries): every sample and
//!   exemplar committed to the TSDB — from remote write, scrapes, OTLP metrics, recording
//!   rules and span metrics — as Prometheus remote write 1.0 (Mimir, Thanos Receive,
//!   VictoriaMetrics, Prometheus' receiver), or 2.0 with `protobuf_message:
//!   io.prometheus.write.v2.Request`. A [`CommitObserver`] encodes each committed batch.
//! - `forward.otlp`: every OTLP traces, logs and metrics request nerve accepted, re-encoded as
//!   OTLP/HTTP protobuf to `<url>/v1/traces|logs|metrics` (Tempo, Jaeger, a collector,
//!   another nerve).
//! - `forward.loki`: every log push nerve stored (from the Loki push API, and OTLP logs as
//!   translated to streams) as received, re-encoded as a snappy protobuf push (Loki derives
//!   `service_name` and the like itself).
//!
//! Records are queued after the local write succeeded; a crash between the two loses the
//! copy of that one batch (the local copy is safe). Delivery is at least once. Metrics:
//! `nerve_forward_pending_bytes`, `nerve_forward_sent_records_total`,
//! `nerve_forward_failed_requests_total`, `nerve_forward_dropped_records_total`.

pub mod queue;
pub mod sender;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use nerve_proto::prompb;
use nerve_storage::Labels;
use nerve_storage::metrics::{CommitObserver, CommittedBatch};
use prost::Message as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::forward::{ForwardConfig, ForwardTarget};
use crate::config::remote_write::RemoteWriteConfig;
use crate::credentials::Credentials;
use queue::DiskQueue;
use sender::{Destination, Protocol, Signal, Stats};

/// Default bound on one destination's queue on disk.
pub const DEFAULT_MAX_QUEUE_BYTES: u64 = 1 << 30;

/// All forwarding destinations. Thread-safe; shared through an `Arc`.
#[derive(Debug, Default)]
pub struct Forwarder {
    destinations: Vec<Arc<Destination>>,
}

impl Forwarder {
    /// Opens the queues under `<data_dir>/forward/` and builds the clients; `None` when no
    /// destination is configured. Senders start with [`Forwarder::spawn`].
    pub fn open(
        cfg: &ForwardConfig,
        prometheus: &[RemoteWriteConfig],
        data_dir: &Path,
    ) -> Result<Option<Arc<Forwarder>>, String> {
        let mut destinations = Vec::new();
        let remote_write = cfg.remote_write_targets(prometheus);
        let kinds = [
            (Protocol::RemoteWrite, "remote_write", &remote_write),
            (Protocol::Otlp, "otlp", &cfg.otlp),
            (Protocol::Loki, "loki", &cfg.loki),
        ];
        for (protocol, kind, targets) in kinds {
            for (i, t) in targets.iter().enumerate() {
                let ctx = format!("forward.{kind}[{i}]");
                let dir = data_dir.join("forward").join(queue_dir_name(kind, &t.url));
                let max = t.max_queue_size.map_or(DEFAULT_MAX_QUEUE_BYTES, |b| b.bytes());
                let queue = DiskQueue::open(&dir, max)
                    .map_err(|e| format!("{ctx}: opening the queue in {}: {e}", dir.display()))?;
                destinations.push(Arc::new(
                    destination(t, protocol, queue).map_err(|e| format!("{ctx}: {e}"))?,
                ));
            }
        }
        Ok((!destinations.is_empty()).then(|| Arc::new(Forwarder { destinations })))
    }

    /// Starts one sender task per destination; they stop when `shutdown` triggers.
    pub fn spawn(&self, shutdown: &crate::shutdown::Shutdown) {
        for d in &self.destinations {
            let stop = shutdown.clone();
            tracing::info!(url = %d.url, protocol = ?d.protocol, pending_bytes = d.queue.pending_bytes(), "forwarding");
            tokio::spawn(d.clone().run(async move { stop.wait().await }));
        }
    }

    /// The observer that queues committed metrics for the remote-write destinations, if any.
    pub fn metrics_observer(self: &Arc<Self>) -> Option<Arc<dyn CommitObserver>> {
        self.has(Protocol::RemoteWrite)
            .then(|| Arc::new(MetricsObserver(self.clone())) as Arc<dyn CommitObserver>)
    }

    /// Whether any destination speaks `p`.
    pub fn has(&self, p: Protocol) -> bool {
        self.destinations.iter().any(|d| d.protocol == p)
    }

    /// The queue record for an OTLP request, when there is an OTLP destination: encode it
    /// before the request is consumed, queue it with [`Forwarder::push_otlp`] once accepted.
    pub fn otlp_record(&self, signal: Signal, request: &impl prost::Message) -> Option<Vec<u8>> {
        if !self.has(Protocol::Otlp) {
            return None;
        }
        let mut record = Vec::with_capacity(request.encoded_len() + 1);
        record.push(signal as u8);
        request.encode(&mut record).ok()?;
        Some(record)
    }

    /// The queue record for a log push, when there is a Loki destination: encode it before
    /// the push is consumed, queue it with [`Forwarder::push_loki`] once stored.
    pub fn loki_record(&self, push: &nerve_proto::loki::PushRequest) -> Option<Vec<u8>> {
        self.has(Protocol::Loki)
            .then(|| nerve_proto::loki::encode_push_protobuf(push))
    }

    /// Queues a stored log push (from [`Forwarder::loki_record`]).
    pub fn push_loki(&self, record: &[u8]) {
        self.push(Protocol::Loki, record);
    }

    /// Queues an accepted OTLP request (from [`Forwarder::otlp_record`]).
    pub fn push_otlp(&self, record: &[u8]) {
        self.push(Protocol::Otlp, record);
    }

    fn push(&self, p: Protocol, record: &[u8]) {
        for d in self.destinations.iter().filter(|d| d.protocol == p) {
            if let Err(e) = d.queue.push(record) {
                d.queue.count_dropped(1);
                tracing::warn!(url = %d.url, error = %e, "queueing for forwarding failed; record dropped");
            }
        }
    }

    /// `(url, protocol, stats, queue)` of every destination, for self-metrics.
    pub fn destinations(&self) -> impl Iterator<Item = (&str, Protocol, &Stats, &DiskQueue)> {
        self.destinations
            .iter()
            .map(|d| (d.url.as_str(), d.protocol, &d.stats, d.queue.as_ref()))
    }
}

fn destination(t: &ForwardTarget, protocol: Protocol, queue: DiskQueue) -> Result<Destination, String> {
    let client = crate::tls::client_builder(&t.http_client())?
        .user_agent(format!("nerve/{}", crate::buildinfo::VERSION))
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))?;
    let mut headers = HeaderMap::new();
    for (k, v) in &t.headers {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("invalid header name {k:?}"))?;
        let value = HeaderValue::from_str(v).map_err(|_| format!("invalid value for header {k:?}"))?;
        headers.insert(name, value);
    }
    Ok(Destination {
        url: t.url.clone(),
        protocol,
        queue: Arc::new(queue),
        stats: Stats::default(),
        client,
        credentials: Credentials::from_options(t.basic_auth.as_ref(), t.authorization.as_ref(), (None, None)),
        headers,
        remote_write_v2: t.protobuf_message.as_deref() == Some(crate::config::forward::V2_MESSAGE),
    })
}

/// A stable directory name for a destination's queue: the kind and the URL made safe.
fn queue_dir_name(kind: &str, url: &str) -> String {
    let safe: String = url
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    format!("{kind}-{safe}")
}

/// Encodes committed TSDB batches as remote-write 1.0 requests.
struct MetricsObserver(Arc<Forwarder>);

impl CommitObserver for MetricsObserver {
    fn committed(&self, batch: CommittedBatch<'_>) {
        let req = write_request(batch);
        if req.timeseries.is_empty() {
            return;
        }
        self.0.push(Protocol::RemoteWrite, &req.encode_to_vec());
    }
}

/// One `TimeSeries` per series of the batch, samples and exemplars in commit order.
fn write_request(batch: CommittedBatch<'_>) -> prompb::WriteRequest {
    let mut req = prompb::WriteRequest::default();
    let mut index: HashMap<&Labels, usize> = HashMap::new();
    for (labels, s) in batch.samples {
        let i = slot(&mut index, &mut req, labels);
        req.timeseries[i].samples.push(prompb::Sample {
            value: s.v,
            timestamp: s.t,
        });
    }
    for (labels, e) in batch.exemplars {
        let i = slot(&mut index, &mut req, labels);
        req.timeseries[i].exemplars.push(prompb::Exemplar {
            labels: to_prompb(&e.labels),
            value: e.v,
            timestamp: e.t,
        });
    }
    req
}

/// The index of the `TimeSeries` for `labels`, added when new.
fn slot<'a>(index: &mut HashMap<&'a Labels, usize>, req: &mut prompb::WriteRequest, labels: &'a Labels) -> usize {
    *index.entry(labels).or_insert_with(|| {
        req.timeseries.push(prompb::TimeSeries {
            labels: to_prompb(labels),
            ..Default::default()
        });
        req.timeseries.len() - 1
    })
}

fn to_prompb(labels: &Labels) -> Vec<prompb::Label> {
    labels
        .as_slice()
        .iter()
        .map(|l| prompb::Label {
            name: l.name.to_string(),
            value: l.value.to_string(),
        })
        .collect()
}
