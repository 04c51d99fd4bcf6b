//! OTLP trace ingest: `POST /v1/traces` (OTLP/HTTP port and main port) and the gRPC
//! `TraceService/Export` (see [`crate::servers::grpc`]).
//!
//! Spans are translated into nerve's model ([`translate`]) and appended to the span store.
//! Answers follow OTLP: 200 with `ExportTraceServiceResponse` (`partial_success` counts
//! refused spans: malformed ids, outside retention), 400 with a `google.rpc.Status` for an
//! undecodable body, 413 over the body limit, 503 + `Retry-After` while the store is opening
//! or its unflushed spans exceed the budget (or, with tail sampling on, its buffer is full).
//!
//! With `traces.sampling.enabled`, spans pass through the [`sampling::TailSampler`] first;
//! [`run_sampler`] stores the traces it keeps. Accepted spans also feed the span-metrics
//! generator ([`crate::spanmetrics`]).

pub mod sampling;
pub mod translate;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use nerve_proto::otlp_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use nerve_storage::logs::now_ns;
use nerve_storage::traces::{AppendOutcome, SpanStore};

use crate::forward::sender::Signal;
use crate::ingest::otlp::{Answer, ExportResponse, OtlpSignal, http_export};
use crate::servers::error::ApiError;
use crate::shutdown::{FirstPass, Shutdown, periodic};
use crate::state::AppState;
use sampling::TailSampler;

/// The OTLP/HTTP trace route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/traces", post(http_export::<Traces>))
}

/// The OTLP answer for an append.
pub fn response(outcome: &AppendOutcome) -> ExportTraceServiceResponse {
    ExportTraceServiceResponse::new(outcome.rejected as u64, outcome.errors.first().map(String::as_str))
}

/// The OTLP traces signal.
#[derive(Debug)]
pub struct Traces;

impl OtlpSignal for Traces {
    type Request = ExportTraceServiceRequest;

    fn ready(state: &AppState) -> Result<(), ApiError> {
        state.traces.ready()?;
        Ok(())
    }

    async fn store(state: &AppState, req: ExportTraceServiceRequest) -> Answer<Self> {
        ingest(state, req).await.map(|outcome| response(&outcome))
    }
}

/// Translates and stores one decoded request (both transports).
pub async fn ingest(state: &AppState, req: ExportTraceServiceRequest) -> Result<AppendOutcome, ApiError> {
    let store = state.traces.ready()?;
    state.memory.check()?;
    let sampler = state.trace_sampler.clone();
    let generator = state.span_metrics.clone();
    let forwarder = state.forwarder.clone();
    tokio::task::spawn_blocking(move || {
        let forward = forwarder.as_ref().and_then(|f| f.otlp_record(Signal::Traces, &req));
        let t = translate::translate(req);
        let mut spans = t.spans;
        // Span metrics count every accepted span, sampled away or not: counted below once
        // the export is accepted (a refused export is retried and must not count twice).
        let batch = generator
            .as_ref()
            .map(|g| g.prepare(&spans, (now_ns() / 1_000_000) as i64));
        let mut taken = 0;
        if let Some(sampler) = sampler.as_deref()
            && !spans.is_empty()
        {
            let offered = spans.len();
            spans = sampler.offer(spans, Instant::now()).map_err(|full| {
                ApiError::unavailable(format!(
                    "{} spans wait for a tail-sampling decision (traces.sampling.max_pending_spans); retry later",
                    full.pending
                ))
            })?;
            taken = offered - spans.len();
        }
        let mut outcome = if spans.is_empty() {
            AppendOutcome::default()
        } else {
            store.append(spans, now_ns())?
        };
        outcome.accepted += taken;
        if let (Some(g), Some(batch)) = (generator, batch) {
            g.commit(batch, Instant::now());
        }
        if let (Some(f), Some(rec)) = (&forwarder, forward) {
            f.push_otlp(&rec);
        }
        if t.rejected > 0 {
            outcome.rejected += t.rejected;
            if let Some(e) = t.error {
                outcome.errors.insert(0, e);
            }
        }
        Ok::<_, ApiError>(outcome)
    })
    .await?
}

/// Stores the traces `sampler` keeps: decides every second, and once more for every waiting
/// trace at shutdown (await the handle before closing the store). Spans the store refuses
/// for overload are put back and retried.
pub fn run_sampler(
    sampler: Arc<TailSampler>,
    store: Arc<SpanStore>,
    shutdown: Shutdown,
) -> tokio::task::JoinHandle<()> {
    periodic(
        Duration::from_secs(1),
        FirstPass::Immediately,
        shutdown,
        "tail-sampling pass",
        move |last| store_decided(&sampler, &store, last),
    )
}

/// One decision pass: appends the kept spans; on overload they wait for the next pass.
fn store_decided(sampler: &TailSampler, store: &SpanStore, all: bool) {
    let now = Instant::now();
    let kept = sampler.decide(now, all);
    if kept.is_empty() {
        return;
    }
    let n = kept.len();
    match store.append(kept.clone(), now_ns()) {
        Ok(o) if o.rejected > 0 => {
            tracing::warn!(rejected = o.rejected, reason = ?o.errors.first(), "sampled spans refused by the span store");
        }
        Ok(_) => {}
        Err(nerve_storage::Error::Overloaded(msg)) if !all => {
            tracing::debug!(spans = n, %msg, "span store busy; sampled spans wait for the next pass");
            sampler.requeue(kept, now);
        }
        Err(e) => tracing::error!(error = %e, spans = n, "storing sampled spans failed; they are lost"),
    }
}
