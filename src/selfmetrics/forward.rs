//! Forwarding figures per destination, read at scrape time.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::to_i64;
use crate::forward::Forwarder;
use crate::forward::sender::Protocol;

/// Exports `nerve_forward_*` with `url` and `protocol` labels, once forwarding is on.
#[derive(Debug)]
pub(super) struct ForwardCollector {
    pub(super) forwarder: Arc<OnceLock<Arc<Forwarder>>>,
}

/// Which figure of a destination a family shows.
#[derive(Clone, Copy)]
enum Figure {
    Pending,
    Sent,
    Failed,
    Dropped,
}

impl Collector for ForwardCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(f) = self.forwarder.get() else { return Ok(()) };
        let families = [
            (
                "nerve_forward_pending_bytes",
                "Bytes queued on disk and not yet delivered",
                Figure::Pending,
            ),
            ("nerve_forward_sent_records", "Queued records delivered", Figure::Sent),
            (
                "nerve_forward_failed_requests",
                "Delivery attempts that failed and were retried",
                Figure::Failed,
            ),
            (
                "nerve_forward_dropped_records",
                "Records given up on: refused for good by the receiver, or dropped from a full queue",
                Figure::Dropped,
            ),
        ];
        for (name, help, figure) in families {
            let gauge = matches!(figure, Figure::Pending);
            let kind = if gauge {
                ConstGauge::new(0i64).metric_type()
            } else {
                ConstCounter::new(0u64).metric_type()
            };
            let mut m = encoder.encode_descriptor(name, help, None, kind)?;
            for (url, protocol, stats, queue) in f.destinations() {
                let protocol = match protocol {
                    Protocol::RemoteWrite => "remote_write",
                    Protocol::Otlp => "otlp",
                    Protocol::Loki => "loki",
                };
                let labels = [("url", url), ("protocol", protocol)];
                let fam = m.encode_family(&labels)?;
                match figure {
                    Figure::Pending => ConstGauge::new(to_i64(queue.pending_bytes())).encode(fam)?,
                    Figure::Sent => ConstCounter::new(stats.sent.load(Ordering::Relaxed)).encode(fam)?,
                    Figure::Failed => ConstCounter::new(stats.failed.load(Ordering::Relaxed)).encode(fam)?,
                    Figure::Dropped => ConstCounter::new(queue.dropped()).encode(fam)?,
                }
            }
        }
        Ok(())
    }
}
