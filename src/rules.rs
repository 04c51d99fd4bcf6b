//! Recording and alerting rules (Prometheus' rule manager, plus LogQL groups like Loki's
//! ruler) and alert notification.
//!
//! - [`file`]: rule files, validation, `nerve check rules`.
//! - [`template`] / [`template_funcs`]: alert label and annotation templates (the shared Go
//!   `text/template` engine of `nerve_query::gotemplate` with Prometheus' functions);
//!   [`gofmt`] is `nerve_query::gofmt`, Go's number and time formatting.
//! - [`recording`] / [`alert`]: the two rule kinds; [`alert`] holds the alert lifecycle.
//! - [`group`]: one group's evaluation; [`querier`]: the stores it reads and writes;
//!   [`status`]: the snapshot the API reads.
//! - [`notifier`]: Alertmanager v2 and webhook delivery; [`alertmanagers`]: where to.
//!
//! [`Manager`] runs one task per group, which owns its [`Group`] and publishes a
//! [`GroupStatus`] after every evaluation. Each evaluation happens at a timestamp aligned to the
//! group's interval (with a per-group offset), and its output is committed through the TSDB
//! appender. Reload ([`Manager::apply`]) reads every rule file first, so an invalid file
//! changes nothing; unchanged groups keep running, changed groups restart with their alerts
//! carried over, and removed groups get stale markers and resolution notices for their
//! firing alerts. At startup, alerting rules restore their `for` state from
//! `ALERTS_FOR_STATE` after the first evaluation.

pub mod alert;
pub mod alertmanagers;
pub mod file;
pub mod group;
pub mod notifier;
pub mod querier;
pub mod recording;
pub mod status;
pub mod template;
pub mod template_funcs;

pub use nerve_query::gofmt;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::group::{EvalSettings, Group};
use self::notifier::Notifier;
use self::querier::Querier;
use self::status::GroupStatus;
use crate::config::Config;
use crate::db::{Db, LogsDb};
use crate::selfmetrics::{RuleGroupLabels, SelfMetrics};
use crate::shutdown::Shutdown;

/// Prometheus' default `global.evaluation_interval`.
const DEFAULT_EVAL_INTERVAL: Duration = Duration::from_secs(60);
/// Prometheus' default `--rules.alert.resend-delay`.
const DEFAULT_RESEND_DELAY: Duration = Duration::from_secs(60);

/// The latest snapshot of a group, replaced after each evaluation.
type StatusCell = Arc<Mutex<Arc<GroupStatus>>>;

struct GroupHandle {
    file: String,
    name: String,
    fingerprint: String,
    status: StatusCell,
    stop: watch::Sender<bool>,
    /// Gives the group back when its task stops (None if an evaluation panicked).
    join: JoinHandle<Option<Group>>,
}

impl GroupHandle {
    /// Stops the task and takes the group back, after its running evaluation.
    async fn stop(self) -> Option<Group> {
        self.stop.send_replace(true);
        self.join.await.ok().flatten()
    }
}

#[derive(Default)]
struct Inner {
    groups: Vec<GroupHandle>,
    /// What the API shows; replaced only once a reload is complete, so a reload never shows
    /// an empty list.
    shown: Vec<StatusCell>,
    settings: Arc<EvalSettings>,
    /// True once the first config was applied (later groups need no restore).
    started: bool,
    /// The config file reloads re-read.
    config_path: Option<PathBuf>,
    /// nerve's URL when the config sets no `server.external_url`.
    default_url: String,
}

/// Owns the rule groups and the notifier. Thread-safe; shared through an `Arc`.
pub struct Manager {
    db: Arc<Db>,
    logs: Arc<LogsDb>,
    metrics: Arc<SelfMetrics>,
    notifier: Arc<Notifier>,
    inner: Mutex<Inner>,
    reload_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleManager")
            .field("groups", &self.inner.lock().groups.len())
            .finish()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Expands `rule_files` globs (relative paths are relative to `base`), sorted, de-duplicated.
pub fn expand_rule_files(globs: &[String], base: Option<&Path>) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for g in globs {
        let pattern = match base {
            Some(b) if Path::new(g).is_relative() => b.join(g).to_string_lossy().into_owned(),
            _ => g.clone(),
        };
        let paths = glob::glob(&pattern).map_err(|e| format!("invalid rule_files pattern {g:?}: {e}"))?;
        for p in paths {
            out.push(p.map_err(|e| e.to_string())?);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

impl Manager {
    /// A manager with no groups; [`Manager::apply`] loads them once the stores are open.
    pub fn new(db: Arc<Db>, logs: Arc<LogsDb>, metrics: Arc<SelfMetrics>) -> Self {
        Manager {
            notifier: Arc::new(Notifier::new(metrics.clone())),
            db,
            logs,
            metrics,
            inner: Mutex::new(Inner::default()),
            reload_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Starts the notification sender; it stops with `shutdown`.
    pub fn start_notifier(&self, shutdown: Shutdown) {
        tokio::spawn(self.notifier.clone().run(shutdown));
    }

    /// Every group as of its last evaluation, in file then config order, for the API.
    pub fn groups(&self) -> Vec<Arc<GroupStatus>> {
        self.inner.lock().shown.iter().map(|s| s.lock().clone()).collect()
    }

    /// Loads the rule files of `cfg` and brings the running groups in line; an error changes
    /// nothing. `config_path` anchors relative `rule_files`; `external_url` is nerve's URL.
    /// Must run inside the tokio runtime.
    pub async fn apply(&self, cfg: &Config, config_path: Option<&Path>, external_url: &str) -> Result<(), String> {
        let _guard = self.reload_lock.lock().await;
        let tsdb = self.db.get().ok_or("the metrics TSDB is not open yet")?;
        let base = config_path.and_then(Path::parent).map(Path::to_path_buf);
        let globs = cfg.rule_files.clone();
        let slo_globs = cfg.slo_files.clone();
        let loaded = tokio::task::spawn_blocking(move || -> Result<Vec<_>, String> {
            let mut out = Vec::new();
            for path in expand_rule_files(&globs, base.as_deref())? {
                let f = file::load(&path).map_err(|e| e.join("; "))?;
                out.push((path.display().to_string(), f));
            }
            // SLO specs: their generated groups run like a rule file's.
            for path in expand_rule_files(&slo_globs, base.as_deref())? {
                let f = crate::slo::load(&path).map_err(|e| e.join("; "))?;
                out.push((path.display().to_string(), f));
            }
            Ok(out)
        })
        .await
        .map_err(|e| e.to_string())??;
        let default_interval = cfg.global.evaluation_interval.map_or(DEFAULT_EVAL_INTERVAL, |d| d.0);
        let default_ms = i64::try_from(default_interval.as_millis()).unwrap_or(60_000).max(1);
        let mut compiled = Vec::new();
        for (path, f) in &loaded {
            for spec in &f.groups {
                let g = Group::from_spec(spec, path, default_ms)?;
                let fp = format!("{}\0{:?}", g.interval_ms, spec);
                compiled.push((path.clone(), spec.name.clone(), fp, g));
            }
        }
        self.notifier.configure(cfg, external_url)?;
        let resend = cfg.alerting.resend_delay.map_or(DEFAULT_RESEND_DELAY, |d| d.0);
        let settings = Arc::new(EvalSettings {
            external_labels: cfg.global.external_labels.clone(),
            external_url: external_url.to_owned(),
            resend_ms: i64::try_from(resend.as_millis()).unwrap_or(60_000),
        });
        let querier = Querier::new(tsdb, self.logs.get());
        // The reload lock serializes applies, so the handles can be taken out, stopped and
        // awaited without holding `inner` across an await.
        let (mut old, settings_changed, restore) = {
            let mut inner = self.inner.lock();
            let changed = *inner.settings != *settings;
            inner.settings = settings.clone();
            let restore = !inner.started;
            inner.started = true;
            (std::mem::take(&mut inner.groups), changed, restore)
        };
        let mut running = Vec::with_capacity(compiled.len());
        // Groups (or what is left of them after a changed group took their state) that stop.
        let mut retired = Vec::new();
        for (file, name, fp, mut g) in compiled {
            if let Some(i) = old.iter().position(|h| h.file == file && h.name == name) {
                let h = old.remove(i);
                if h.fingerprint == fp && !settings_changed {
                    running.push(h);
                    continue;
                }
                if let Some(mut prev) = h.stop().await {
                    g.copy_state(&mut prev);
                    retired.push(prev);
                }
                tracing::info!(group = name, file, "rule group changed, restarting it");
            } else if restore {
                g.await_restore();
            }
            let status = Arc::new(Mutex::new(Arc::new(GroupStatus::of(&g))));
            let (tx, rx) = watch::channel(false);
            let join = tokio::spawn(run_group(
                g,
                status.clone(),
                querier.clone(),
                settings.clone(),
                self.notifier.clone(),
                self.metrics.clone(),
                rx,
            ));
            running.push(GroupHandle {
                file,
                name,
                fingerprint: fp,
                status,
                stop: tx,
                join,
            });
        }
        {
            let mut inner = self.inner.lock();
            inner.shown = running.iter().map(|h| h.status.clone()).collect();
            inner.groups = running;
        }
        for h in old {
            tracing::info!(group = h.name, file = h.file, "rule group removed");
            retired.extend(h.stop().await);
        }
        if !retired.is_empty() {
            let s = settings.clone();
            let notes = tokio::task::spawn_blocking(move || {
                let t = now_ms();
                retired
                    .iter_mut()
                    .flat_map(|g| g.retire(t, &querier, &s))
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|e| e.to_string())?;
            self.notifier.send(notes);
        }
        tracing::info!(groups = self.inner.lock().groups.len(), "rules loaded");
        Ok(())
    }

    /// Sets the config file reloads re-read and nerve's URL when the config names none.
    pub fn set_origin(&self, config_path: Option<PathBuf>, default_url: String) {
        let mut inner = self.inner.lock();
        inner.config_path = config_path;
        inner.default_url = default_url;
    }

    /// Re-reads the config file and its rule files; errors leave the running rules alone.
    pub async fn reload(&self) -> Result<(), String> {
        let (path, url) = {
            let inner = self.inner.lock();
            (inner.config_path.clone(), inner.default_url.clone())
        };
        let cfg = match path.clone() {
            Some(p) => tokio::task::spawn_blocking(move || Config::load(&p))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("{e:#}"))?,
            None => Config::default(),
        };
        let url = cfg.server.external_url.clone().unwrap_or(url);
        self.apply(&cfg, path.as_deref(), &url).await
    }

    /// Stops every group task (bounded wait).
    pub async fn shutdown(&self) {
        let groups: Vec<GroupHandle> = std::mem::take(&mut self.inner.lock().groups);
        for g in &groups {
            g.stop.send_replace(true);
        }
        for g in groups {
            let _ = tokio::time::timeout(Duration::from_secs(10), g.stop()).await;
        }
    }
}

/// A per-group offset within the interval, so groups do not all evaluate at once.
fn offset_ms(file: &str, name: &str, interval_ms: i64) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in file.bytes().chain([0xff]).chain(name.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % interval_ms.max(1) as u64) as i64
}

/// Evaluates one group on its schedule until told to stop, then gives the group back.
async fn run_group(
    group: Group,
    status: StatusCell,
    querier: Querier,
    settings: Arc<EvalSettings>,
    notifier: Arc<Notifier>,
    metrics: Arc<SelfMetrics>,
    mut stop: watch::Receiver<bool>,
) -> Option<Group> {
    let interval = group.interval_ms;
    let offset = offset_ms(&group.file, &group.name, interval);
    let labels = RuleGroupLabels {
        rule_group: format!("{};{}", group.file, group.name),
    };
    let mut group = group;
    let mut last: Option<i64> = None;
    loop {
        let now = now_ms();
        let next = (now - offset).div_euclid(interval) * interval + offset + interval;
        if let Some(prev) = last {
            let missed = (next - prev) / interval - 1;
            if missed > 0 {
                metrics
                    .rule_group_iterations_missed
                    .get_or_create(&labels)
                    .inc_by(missed as u64);
            }
        }
        last = Some(next);
        let wait = Duration::from_millis(u64::try_from(next - now).unwrap_or(0));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            r = stop.changed() => if r.is_err() || *stop.borrow() { return Some(group) },
        }
        if *stop.borrow() {
            return Some(group);
        }
        let (q, s) = (querier.clone(), settings.clone());
        let done = tokio::task::spawn_blocking(move || {
            // A bug in one evaluation must not end the group: keep it and try again next time.
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let out = group.eval(next, &q, &s);
                group.restore(next, &q);
                out
            }));
            (group, out)
        })
        .await;
        let Ok((g, out)) = done else {
            tracing::error!(
                group = labels.rule_group,
                "BUG: rule group task failed; the group stops"
            );
            return None;
        };
        group = g;
        match out {
            Ok((notes, stats)) => {
                *status.lock() = Arc::new(GroupStatus::of(&group));
                metrics
                    .rule_group_last_duration
                    .get_or_create(&labels)
                    .set(group.eval_seconds);
                metrics
                    .rule_evaluations
                    .get_or_create(&labels)
                    .inc_by(stats.rules as u64);
                metrics
                    .rule_evaluation_failures
                    .get_or_create(&labels)
                    .inc_by(stats.failures as u64);
                notifier.send(notes);
            }
            Err(_) => {
                tracing::error!(group = labels.rule_group, "BUG: rule group evaluation panicked");
                metrics.rule_evaluation_failures.get_or_create(&labels).inc();
            }
        }
    }
}
