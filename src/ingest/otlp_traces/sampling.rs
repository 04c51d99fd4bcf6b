//! Tail sampling: spans of a trace wait in memory until the trace is complete (no new span
//! for `decision_wait`), then the whole trace is kept or dropped by the policy
//! ([`SamplingPolicy`]): errors, slow traces, and a fraction of the rest chosen by trace id.
//! Spans arriving after the decision follow it (decisions are remembered for ten times the
//! wait).
//!
//! Durability: with sampling on, an exported span is acknowledged when it is buffered, and
//! it reaches the WAL only when its trace is decided — a crash in between loses the traces
//! still waiting (as with an OpenTelemetry Collector's tail sampler). Sampling is off by
//! default; without it every acknowledged span is in the WAL first.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use nerve_storage::traces::{Span, StatusCode, TraceId};
use parking_lot::Mutex;

use crate::config::traces::SamplingPolicy;

/// A trace waiting for its decision.
#[derive(Debug)]
struct Pending {
    spans: Vec<Span>,
    last_seen: Instant,
    error: bool,
    min_start: u64,
    max_end: u64,
    /// Already decided "keep" (spans put back after a failed store).
    forced: bool,
}

#[derive(Debug, Default)]
struct State {
    pending: HashMap<TraceId, Pending>,
    pending_spans: usize,
    /// Decisions taken, remembered for late spans.
    decided: HashMap<TraceId, bool>,
    /// When each decision expires, oldest first.
    expiry: VecDeque<(Instant, TraceId)>,
}

/// Counters of the sampler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SamplerCounts {
    /// Traces kept.
    pub kept_traces: u64,
    /// Traces dropped.
    pub dropped_traces: u64,
    /// Spans dropped (late spans of dropped traces included).
    pub dropped_spans: u64,
    /// Spans waiting for a decision now.
    pub pending_spans: u64,
}

/// The tail sampler; shared by every trace export. Thread-safe.
#[derive(Debug)]
pub struct TailSampler {
    policy: SamplingPolicy,
    state: Mutex<State>,
    counts: Mutex<SamplerCounts>,
}

/// Why spans could not be buffered.
#[derive(Debug, PartialEq, Eq)]
pub struct BufferFull {
    /// Spans waiting now.
    pub pending: usize,
}

impl TailSampler {
    /// A sampler with `policy`.
    pub fn new(policy: SamplingPolicy) -> Self {
        TailSampler {
            policy,
            state: Mutex::new(State::default()),
            counts: Mutex::new(SamplerCounts::default()),
        }
    }

    /// Takes the spans of one export: returns those of traces already decided "keep" (to
    /// store now) and buffers the undecided. [`BufferFull`] (nothing taken) when the
    /// buffer would exceed its bound.
    pub fn offer(&self, spans: Vec<Span>, now: Instant) -> Result<Vec<Span>, BufferFull> {
        let mut st = self.state.lock();
        let undecided = spans.iter().filter(|s| !st.decided.contains_key(&s.trace_id)).count();
        if undecided > 0 && st.pending_spans + undecided > self.policy.max_pending_spans {
            return Err(BufferFull {
                pending: st.pending_spans,
            });
        }
        let mut now_keep = Vec::new();
        let mut dropped = 0u64;
        for s in spans {
            match st.decided.get(&s.trace_id) {
                Some(true) => now_keep.push(s),
                Some(false) => dropped += 1,
                None => {
                    st.pending_spans += 1;
                    let p = st.pending.entry(s.trace_id).or_insert_with(|| Pending {
                        spans: Vec::new(),
                        last_seen: now,
                        error: false,
                        min_start: u64::MAX,
                        max_end: 0,
                        forced: false,
                    });
                    p.last_seen = now;
                    p.error |= s.status_code == StatusCode::Error;
                    p.min_start = p.min_start.min(s.start_ns);
                    p.max_end = p.max_end.max(s.end_ns);
                    p.spans.push(s);
                }
            }
        }
        let pending = st.pending_spans as u64;
        drop(st);
        let mut c = self.counts.lock();
        c.dropped_spans += dropped;
        c.pending_spans = pending;
        Ok(now_keep)
    }

    /// Whether a complete trace is kept.
    fn keep(&self, id: &TraceId, p: &Pending) -> bool {
        if p.forced || (self.policy.keep_errors && p.error) {
            return true;
        }
        if let Some(t) = self.policy.slow_threshold
            && p.max_end.saturating_sub(p.min_start) >= t.as_nanos() as u64
        {
            return true;
        }
        // The low 8 bytes of the id are random in W3C trace ids; compare them as a fraction.
        let mut low = [0u8; 8];
        low.copy_from_slice(&id[8..]);
        let x = u64::from_be_bytes(low) as f64 / u64::MAX as f64;
        x < self.policy.probability
    }

    /// Decides every trace idle for the decision wait (all of them when `all`, at shutdown)
    /// and returns the spans of those kept, to be stored.
    pub fn decide(&self, now: Instant, all: bool) -> Vec<Span> {
        let wait = self.policy.decision_wait;
        let remember = wait.saturating_mul(10).max(Duration::from_secs(60));
        let mut st = self.state.lock();
        while let Some(&(at, id)) = st.expiry.front() {
            if at > now {
                break;
            }
            st.expiry.pop_front();
            st.decided.remove(&id);
        }
        let due: Vec<TraceId> = st
            .pending
            .iter()
            .filter(|(_, p)| all || now.saturating_duration_since(p.last_seen) >= wait)
            .map(|(id, _)| *id)
            .collect();
        let (mut kept, mut dropped, mut dropped_spans) = (0u64, 0u64, 0u64);
        let mut out = Vec::new();
        for id in due {
            let Some(p) = st.pending.remove(&id) else { continue };
            st.pending_spans -= p.spans.len();
            let keep = self.keep(&id, &p);
            if keep {
                kept += 1;
                out.extend(p.spans);
            } else {
                dropped += 1;
                dropped_spans += p.spans.len() as u64;
            }
            st.decided.insert(id, keep);
            st.expiry.push_back((now + remember, id));
        }
        let pending = st.pending_spans as u64;
        drop(st);
        let mut c = self.counts.lock();
        c.kept_traces += kept;
        c.dropped_traces += dropped;
        c.dropped_spans += dropped_spans;
        c.pending_spans = pending;
        out
    }

    /// Puts back spans of kept traces that could not be stored (the store was overloaded),
    /// so the next pass retries them.
    pub fn requeue(&self, spans: Vec<Span>, now: Instant) {
        let mut st = self.state.lock();
        for s in spans {
            // The trace is decided "keep": its late spans pass straight through, and these
            // wait for the next pass as a pending trace already past its wait.
            st.decided.remove(&s.trace_id);
            st.pending_spans += 1;
            let p = st.pending.entry(s.trace_id).or_insert_with(|| Pending {
                spans: Vec::new(),
                last_seen: now.checked_sub(self.policy.decision_wait).unwrap_or(now),
                error: false,
                min_start: u64::MAX,
                max_end: 0,
                forced: true,
            });
            p.forced = true;
            p.min_start = p.min_start.min(s.start_ns);
            p.max_end = p.max_end.max(s.end_ns);
            p.spans.push(s);
        }
    }

    /// Counters.
    pub fn counts(&self) -> SamplerCounts {
        *self.counts.lock()
    }
}

#[cfg(test)]
#[path = "sampling_tests.rs"]
mod tests;
