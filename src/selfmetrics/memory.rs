//! Memory guard figures, read at scrape time.

use std::sync::{Arc, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use super::{counter, gauge, to_i64};
use crate::ingest::memory::MemoryGuard;

/// Exports the guard's bound, the last RSS reading and the refusals, once a guard is set.
#[derive(Debug)]
pub(super) struct MemoryCollector {
    pub(super) guard: Arc<OnceLock<Arc<MemoryGuard>>>,
}

impl Collector for MemoryCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(g) = self.guard.get() else { return Ok(()) };
        gauge(
            &mut encoder,
            "nerve_memory_limit_bytes",
            "limits.max_memory: resident memory above which ingest is refused (0 = no limit)",
            to_i64(g.limit()),
        )?;
        gauge(
            &mut encoder,
            "nerve_memory_resident_bytes",
            "Resident memory as last sampled by the memory guard",
            to_i64(g.rss()),
        )?;
        counter(
            &mut encoder,
            "nerve_ingest_memory_refused_requests",
            "Ingest requests refused with 503 because resident memory was above limits.max_memory",
            g.refused(),
        )
    }
}
