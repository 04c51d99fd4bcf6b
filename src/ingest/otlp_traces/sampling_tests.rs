//! Tail-sampler decisions: errors, slow traces, the probability by trace id, idle waits,
//! late spans, the buffer bound and requeueing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nerve_storage::traces::{Resource, Scope, Span, SpanKind, StatusCode};

use super::*;

fn policy() -> SamplingPolicy {
    SamplingPolicy {
        keep_errors: true,
        slow_threshold: Some(Duration::from_secs(1)),
        probability: 0.0,
        decision_wait: Duration::from_secs(10),
        max_pending_spans: 100,
    }
}

/// A span of trace `t` (low id bytes `low`) lasting `dur_ms`.
fn span(t: u8, low: u64, id: u8, dur_ms: u64, error: bool) -> Span {
    let mut trace_id = [0u8; 16];
    trace_id[0] = t;
    trace_id[8..].copy_from_slice(&low.to_be_bytes());
    Span {
        trace_id,
        span_id: [id, 0, 0, 0, 0, 0, 0, 1],
        parent_span_id: [0; 8],
        trace_state: String::new(),
        flags: 0,
        name: "op".into(),
        kind: SpanKind::Server,
        start_ns: 1_000_000_000,
        end_ns: 1_000_000_000 + dur_ms * 1_000_000,
        attributes: vec![],
        dropped_attributes_count: 0,
        events: vec![],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status_code: if error { StatusCode::Error } else { StatusCode::Unset },
        status_message: String::new(),
        resource: Arc::new(Resource::default()),
        scope: Arc::new(Scope::default()),
    }
}

fn traces(spans: &[Span]) -> Vec<u8> {
    let mut t: Vec<u8> = spans.iter().map(|s| s.trace_id[0]).collect();
    t.sort_unstable();
    t.dedup();
    t
}

#[test]
fn errors_and_slow_traces_are_kept_once_idle_the_rest_dropped() {
    let s = TailSampler::new(policy());
    let t0 = Instant::now();
    let batch = vec![
        span(1, 0, 1, 10, false),
        span(1, 0, 2, 10, true),    // error in trace 1
        span(2, 0, 3, 1500, false), // slow trace 2
        span(3, 0, 4, 10, false),   // plain trace 3
    ];
    assert!(s.offer(batch, t0).unwrap().is_empty());
    assert!(s.decide(t0 + Duration::from_secs(5), false).is_empty(), "not idle yet");
    // A new span of trace 3 restarts its wait.
    s.offer(vec![span(3, 0, 5, 10, false)], t0 + Duration::from_secs(8))
        .unwrap();
    let kept = s.decide(t0 + Duration::from_secs(11), false);
    assert_eq!(traces(&kept), vec![1, 2]);
    assert_eq!(kept.len(), 3);
    assert_eq!(s.counts().pending_spans, 2);
    assert!(s.decide(t0 + Duration::from_secs(19), false).is_empty());
    assert_eq!(s.counts().dropped_traces, 1);
    assert_eq!(s.counts().dropped_spans, 2);
    assert_eq!(s.counts().kept_traces, 2);
    // Late spans follow the decision.
    let late = s
        .offer(
            vec![span(1, 0, 6, 1, false), span(3, 0, 7, 1, true)],
            t0 + Duration::from_secs(20),
        )
        .unwrap();
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].span_id[0], 6);
    assert_eq!(s.counts().dropped_spans, 3);
}

#[test]
fn probability_picks_by_trace_id_and_rules_can_be_off() {
    let s = TailSampler::new(SamplingPolicy {
        keep_errors: false,
        slow_threshold: None,
        probability: 0.5,
        ..policy()
    });
    let t0 = Instant::now();
    let batch = vec![
        span(1, 1, 1, 5000, true),            // low id: kept by probability
        span(2, u64::MAX - 1, 2, 5000, true), // high id: dropped though slow and failing
    ];
    s.offer(batch, t0).unwrap();
    assert_eq!(traces(&s.decide(t0, true)), vec![1], "shutdown decides everything");
    // About half of many random ids are kept.
    let s = TailSampler::new(SamplingPolicy {
        probability: 0.25,
        keep_errors: false,
        slow_threshold: None,
        max_pending_spans: 10_000,
        ..policy()
    });
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let batch: Vec<Span> = (0..4000)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut sp = span(0, x, 1, 1, false);
            sp.trace_id[..4].copy_from_slice(&(i as u32).to_be_bytes());
            sp
        })
        .collect();
    s.offer(batch, t0).unwrap();
    let kept = s.decide(t0, true).len();
    assert!((850..1150).contains(&kept), "{kept} of 4000 kept at 0.25");
}

#[test]
fn the_buffer_is_bounded_and_requeued_spans_are_kept() {
    let s = TailSampler::new(SamplingPolicy {
        max_pending_spans: 3,
        probability: 0.0,
        keep_errors: false,
        slow_threshold: None,
        ..policy()
    });
    let t0 = Instant::now();
    s.offer(vec![span(1, 0, 1, 1, false), span(1, 0, 2, 1, false)], t0)
        .unwrap();
    let full = s.offer(vec![span(2, 0, 3, 1, false), span(2, 0, 4, 1, false)], t0);
    assert_eq!(full, Err(BufferFull { pending: 2 }));
    assert_eq!(s.counts().pending_spans, 2, "nothing of a refused export is taken");
    // Spans that failed to store come back and are kept at the next pass whatever the policy.
    s.requeue(vec![span(5, 0, 9, 1, false)], t0);
    let kept = s.decide(t0, false);
    assert_eq!(traces(&kept), vec![5]);
}
