//! Span store and tail sampler figures, read at scrape time.

use std::sync::{Arc, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use super::{counter, gauge, to_i64};
use crate::db::TracesDb;
use crate::ingest::otlp_traces::sampling::TailSampler;
use crate::spanmetrics::Generator;

/// Reads span store figures (nothing while the store is opening) and, when tail sampling is
/// on, the sampler's counts.
#[derive(Debug)]
pub(super) struct TracesCollector {
    pub(super) traces: Arc<TracesDb>,
    pub(super) sampler: Arc<OnceLock<Arc<TailSampler>>>,
    pub(super) span_metrics: Arc<OnceLock<Arc<Generator>>>,
}

impl Collector for TracesCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(store) = self.traces.get() {
            let s = store.stats();
            counter(&mut encoder, "nerve_trace_spans_accepted", "Spans stored", s.accepted)?;
            counter(
                &mut encoder,
                "nerve_trace_spans_rejected",
                "Spans refused by validation (bad ids, too old, too large)",
                s.rejected,
            )?;
            gauge(
                &mut encoder,
                "nerve_trace_head_spans",
                "Spans in memory not yet written to segments",
                to_i64(s.head_spans),
            )?;
            gauge(
                &mut encoder,
                "nerve_trace_segment_spans",
                "Spans in segment files",
                to_i64(s.segment_spans),
            )?;
            gauge(
                &mut encoder,
                "nerve_trace_segments",
                "Span segment files",
                to_i64(s.segments),
            )?;
            gauge(
                &mut encoder,
                "nerve_trace_disk_bytes",
                "Bytes of the span store on disk (segments and WAL)",
                to_i64(s.segment_bytes.saturating_add(s.wal_bytes)),
            )?;
        }
        if let Some(g) = self.span_metrics.get() {
            let c = g.counts();
            gauge(
                &mut encoder,
                "nerve_span_metrics_series",
                "Label sets the span-metrics generator keeps (span metrics, edges, unpaired counts)",
                to_i64(c.series as u64),
            )?;
            counter(
                &mut encoder,
                "nerve_span_metrics_refused_spans",
                "Spans and edges not counted because traces.span_metrics.max_series was reached",
                c.refused,
            )?;
            gauge(
                &mut encoder,
                "nerve_span_metrics_pending_edge_spans",
                "Client and server spans waiting for their other half",
                to_i64(c.pending_pairs as u64),
            )?;
        }
        if let Some(sampler) = self.sampler.get() {
            let c = sampler.counts();
            counter(
                &mut encoder,
                "nerve_trace_sampler_kept_traces",
                "Traces the tail sampler kept",
                c.kept_traces,
            )?;
            counter(
                &mut encoder,
                "nerve_trace_sampler_dropped_traces",
                "Traces the tail sampler dropped",
                c.dropped_traces,
            )?;
            counter(
                &mut encoder,
                "nerve_trace_sampler_dropped_spans",
                "Spans dropped by the tail sampler (late spans of dropped traces included)",
                c.dropped_spans,
            )?;
            gauge(
                &mut encoder,
                "nerve_trace_sampler_pending_spans",
                "Spans waiting in memory for a sampling decision",
                to_i64(c.pending_spans),
            )?;
        }
        Ok(())
    }
}
