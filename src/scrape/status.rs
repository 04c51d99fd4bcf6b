//! What the targets API shows: per scrape pool, the active targets with their last scrape's
//! outcome and the dropped targets' discovered labels. Written by scrape tasks, read by
//! `/api/v1/targets`; all locks are short and never held across `.await`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::{Mutex, RwLock};

use super::relabel::LabelMap;
use super::target::TargetSpec;

/// A target's health as the API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Not scraped yet.
    Unknown,
    /// The last scrape succeeded.
    Up,
    /// The last scrape failed.
    Down,
}

impl Health {
    /// `unknown`, `up` or `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// The outcome of a target's last scrape.
#[derive(Clone, Debug)]
pub struct LastScrape {
    /// Health after the last scrape.
    pub health: Health,
    /// Error of the last scrape, empty when it succeeded.
    pub error: String,
    /// When the last scrape started.
    pub at: Option<SystemTime>,
    /// How long it took, in seconds.
    pub duration_s: f64,
}

/// One active target: its spec (fixed) and its last scrape (updated by its task).
#[derive(Debug)]
pub struct TargetStatus {
    /// What is scraped.
    pub spec: TargetSpec,
    last: Mutex<LastScrape>,
}

impl TargetStatus {
    /// A target not scraped yet.
    pub fn new(spec: TargetSpec) -> Self {
        TargetStatus {
            spec,
            last: Mutex::new(LastScrape {
                health: Health::Unknown,
                error: String::new(),
                at: None,
                duration_s: 0.0,
            }),
        }
    }

    /// Records a scrape's outcome.
    pub fn record(&self, at: SystemTime, duration_s: f64, error: Option<String>) {
        let mut l = self.last.lock();
        l.health = if error.is_some() { Health::Down } else { Health::Up };
        l.error = error.unwrap_or_default();
        l.at = Some(at);
        l.duration_s = duration_s;
    }

    /// A copy of the last scrape's outcome.
    pub fn last(&self) -> LastScrape {
        self.last.lock().clone()
    }
}

/// One scrape pool's targets.
#[derive(Clone, Debug, Default)]
pub struct PoolStatus {
    /// Targets being scraped, sorted by URL.
    pub active: Vec<Arc<TargetStatus>>,
    /// Discovered labels of targets relabeling dropped.
    pub dropped: Vec<LabelMap>,
}

/// All pools' targets, keyed by job name. Thread-safe.
#[derive(Debug, Default)]
pub struct Registry {
    pools: RwLock<BTreeMap<String, PoolStatus>>,
}

impl Registry {
    /// Replaces a pool's view.
    pub fn set_pool(&self, job: &str, status: PoolStatus) {
        self.pools.write().insert(job.to_owned(), status);
    }

    /// Forgets a pool (its job was removed from the config).
    pub fn remove_pool(&self, job: &str) {
        self.pools.write().remove(job);
    }

    /// A snapshot of every pool.
    pub fn snapshot(&self) -> BTreeMap<String, PoolStatus> {
        self.pools.read().clone()
    }
}
