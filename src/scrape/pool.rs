//! A scrape pool: one job's discovery, its targets' tasks, and its part of the targets API.
//!
//! The pool keeps a task per active target, keyed by the target's identity (labels + URL).
//! When discovery changes, new targets start, vanished ones get [`Stop::Removed`] (and so
//! their end-of-run staleness markers), unchanged ones keep running with their state.

use std::collections::HashMap;
use std::sync::Arc;

use nerve_storage::metrics::Tsdb;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::append::AppendSettings;
use super::discovery::{self, FileSd};
use super::fetch::Fetcher;
use super::relabel::{LabelMap, Rule};
use super::status::{PoolStatus, Registry, TargetStatus};
use super::target::{self, PoolSettings, Populated};
use super::task::{self, JobRuntime, Stop};
use crate::config::scrape::{GlobalConfig, ScrapeConfig};

/// Everything a pool needs, compiled from its scrape config.
#[derive(Debug)]
pub struct PoolSpec {
    /// The job's config as given (static targets, file SD).
    pub cfg: ScrapeConfig,
    /// Target label rules.
    pub settings: PoolSettings,
    /// Shared by the pool's targets.
    pub runtime: Arc<JobRuntime>,
    /// How many dropped targets the API keeps (0 = all).
    pub keep_dropped: usize,
}

impl PoolSpec {
    /// Compiles a scrape config with the global defaults.
    pub fn compile(cfg: &ScrapeConfig, global: &GlobalConfig, jitter_seed: u64) -> Result<PoolSpec, String> {
        let ctx = |e: String| format!("scrape config {:?}: {e}", cfg.job_name);
        let settings = PoolSettings {
            job: cfg.job_name.clone(),
            scheme: cfg.scheme.clone().unwrap_or_else(|| "http".to_owned()),
            metrics_path: cfg.metrics_path.clone().unwrap_or_else(|| "/metrics".to_owned()),
            params: cfg.params.clone(),
            interval: cfg.effective_interval(global).get(),
            timeout: cfg.effective_timeout(global).get(),
            relabel: Rule::compile_all(&cfg.relabel_configs).map_err(ctx)?,
        };
        let append = AppendSettings {
            honor_labels: cfg.honor_labels,
            honor_timestamps: cfg.honor_timestamps.unwrap_or(true),
            track_timestamps_staleness: cfg.track_timestamps_staleness.unwrap_or(false),
            metric_relabel: Rule::compile_all(&cfg.metric_relabel_configs).map_err(ctx)?,
            sample_limit: cfg.sample_limit.or(global.sample_limit).unwrap_or(0),
            label_limit: cfg.label_limit.or(global.label_limit).unwrap_or(0),
            label_name_length_limit: cfg
                .label_name_length_limit
                .or(global.label_name_length_limit)
                .unwrap_or(0),
            label_value_length_limit: cfg
                .label_value_length_limit
                .or(global.label_value_length_limit)
                .unwrap_or(0),
        };
        let body_limit = cfg.body_size_limit.or(global.body_size_limit).map_or(0, |b| b.bytes());
        let fetcher = Fetcher::new(cfg, body_limit).map_err(ctx)?;
        let keep_dropped = cfg.keep_dropped_targets.or(global.keep_dropped_targets).unwrap_or(0);
        Ok(PoolSpec {
            cfg: cfg.clone(),
            settings,
            runtime: Arc::new(JobRuntime {
                fetcher,
                append,
                jitter_seed,
            }),
            keep_dropped: usize::try_from(keep_dropped).unwrap_or(usize::MAX),
        })
    }
}

struct Running {
    status: Arc<TargetStatus>,
    stop: watch::Sender<Stop>,
    join: JoinHandle<()>,
}

/// Runs a pool until `stop` leaves [`Stop::Running`]; then stops its targets the same way
/// and waits for them.
pub async fn run(spec: PoolSpec, tsdb: Arc<Tsdb>, registry: Arc<Registry>, mut stop: watch::Receiver<Stop>) {
    let job = spec.cfg.job_name.clone();
    let static_targets = discovery::static_targets(&spec.cfg.static_configs);
    let mut file_sd = FileSd::new(&spec.cfg.file_sd_configs);
    let mut running: HashMap<u64, Running> = HashMap::new();
    let mut retiring: Vec<Running> = Vec::new();
    let mut first = true;
    loop {
        let changed = file_sd.refresh();
        if first || changed {
            let discovered: Vec<LabelMap> = static_targets.iter().chain(file_sd.targets()).cloned().collect();
            sync(&spec, discovered, &mut running, &mut retiring, &tsdb, &registry);
            first = false;
        }
        retiring.retain(|r| !r.join.is_finished());
        let poll = file_sd.poll_interval();
        tokio::select! {
            _ = poll_wait(poll) => {}
            r = stop.changed() => {
                if r.is_err() || *stop.borrow() != Stop::Running {
                    break;
                }
            }
        }
    }
    let mode = match *stop.borrow() {
        Stop::Running => Stop::Shutdown,
        m => m,
    };
    for r in running.into_values().chain(retiring) {
        // Targets already retiring only need to hear about a shutdown.
        if mode == Stop::Shutdown || *r.stop.borrow() == Stop::Running {
            r.stop.send_replace(mode);
        }
        let _ = r.join.await;
    }
    tracing::debug!(job, "scrape pool stopped");
}

/// Sleeps for `poll`, or forever when there is nothing to poll.
async fn poll_wait(poll: Option<std::time::Duration>) {
    match poll {
        Some(p) => tokio::time::sleep(p).await,
        None => std::future::pending().await,
    }
}

/// Applies a new discovery result: start new targets, retire vanished ones, publish status.
fn sync(
    spec: &PoolSpec,
    discovered: Vec<LabelMap>,
    running: &mut HashMap<u64, Running>,
    retiring: &mut Vec<Running>,
    tsdb: &Arc<Tsdb>,
    registry: &Registry,
) {
    let mut active = HashMap::new();
    let mut dropped = Vec::new();
    for d in discovered {
        match target::populate(d, &spec.settings) {
            Ok(Populated::Active(t)) => {
                active.entry(t.key).or_insert(t);
            }
            Ok(Populated::Dropped(d)) => dropped.push(d),
            Err(e) => tracing::warn!(job = %spec.settings.job, error = %e, "creating target failed"),
        }
    }
    let gone: Vec<u64> = running.keys().filter(|k| !active.contains_key(k)).copied().collect();
    for k in gone {
        if let Some(r) = running.remove(&k) {
            r.stop.send_replace(Stop::Removed);
            retiring.push(r);
        }
    }
    for (k, t) in active {
        if running.contains_key(&k) {
            continue;
        }
        let status = Arc::new(TargetStatus::new(t));
        let (tx, rx) = watch::channel(Stop::Running);
        let join = tokio::spawn(task::run(status.clone(), spec.runtime.clone(), tsdb.clone(), rx));
        running.insert(k, Running { status, stop: tx, join });
    }
    let mut list: Vec<Arc<TargetStatus>> = running.values().map(|r| r.status.clone()).collect();
    list.sort_by(|a, b| {
        a.spec
            .url
            .cmp(&b.spec.url)
            .then_with(|| a.spec.labels.cmp(&b.spec.labels))
    });
    if spec.keep_dropped > 0 {
        dropped.truncate(spec.keep_dropped);
    }
    tracing::info!(job = %spec.settings.job, active = list.len(), dropped = dropped.len(), "scrape targets updated");
    registry.set_pool(&spec.settings.job, PoolStatus { active: list, dropped });
}
