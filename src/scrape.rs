//! Prometheus-compatible scraping: the scrape manager, one pool per `scrape_configs` job and
//! one task per target.
//!
//! - [`relabel`]: the relabeling engine (every Prometheus action).
//! - [`target`]: target label rules (`__address__`, `__scheme__`, `__param_*`, `job`, ...).
//! - [`discovery`]: `static_configs` and `file_sd_configs`.
//! - [`fetch`]: the HTTP request (headers, credentials, gzip, timeout, body limit).
//! - [`append`]: body → series (honor_labels, metric relabeling, limits, staleness, report).
//! - [`task`] / [`pool`]: the per-target loop and the per-job target set.
//! - [`status`]: what `/api/v1/targets` shows.
//!
//! Zero config: without `scrape_configs`, nerve scrapes its own `/metrics` (job `nerve`).
//! Reload ([`Manager::reload`], on SIGHUP and `POST /-/reload`) re-reads the config file;
//! pools whose effective config changed restart (their targets get staleness markers),
//! unchanged pools keep running with their state, and an invalid file changes nothing.

pub mod append;
pub mod discovery;
pub mod fetch;
pub mod pool;
pub mod relabel;
pub mod status;
pub mod target;
pub mod task;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::pool::PoolSpec;
use self::status::Registry;
use self::task::Stop;
use crate::config::Config;
use crate::config::auth::AccessRule;
use crate::config::scrape::{GlobalConfig, ScrapeConfig, StaticConfig};
use crate::db::Db;
use crate::state::AppState;

/// Job name of the zero-config self-scrape.
pub const SELF_JOB: &str = "nerve";

/// How long shutdown waits for scrape tasks to finish their current scrape.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

struct PoolHandle {
    fingerprint: String,
    stop: watch::Sender<Stop>,
    join: JoinHandle<()>,
}

#[derive(Default)]
struct Inner {
    pools: HashMap<String, PoolHandle>,
    self_target: Option<String>,
    config_path: Option<PathBuf>,
}

/// Owns the scrape pools. Thread-safe; shared through an `Arc`.
pub struct Manager {
    db: Arc<Db>,
    registry: Arc<Registry>,
    inner: Mutex<Inner>,
    /// Serializes reloads (config file reads and pool swaps).
    reload_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("pools", &self.inner.lock().pools.len())
            .finish()
    }
}

impl Manager {
    /// A manager with no pools; [`Manager::apply`] starts them once the TSDB is open.
    pub fn new(db: Arc<Db>) -> Self {
        Manager {
            db,
            registry: Arc::new(Registry::default()),
            inner: Mutex::new(Inner::default()),
            reload_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The targets view for the API.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Sets the address nerve's own `/metrics` is reachable at (for the zero-config job) and
    /// the config file that reloads re-read.
    pub fn set_origin(&self, self_target: Option<String>, config_path: Option<PathBuf>) {
        let mut inner = self.inner.lock();
        inner.self_target = self_target;
        inner.config_path = config_path;
    }

    /// Brings the running pools in line with `cfg`. Every pool is compiled first, so an
    /// error changes nothing. Must run inside the tokio runtime.
    pub fn apply(&self, cfg: &Config) -> Result<(), String> {
        let tsdb = self.db.get().ok_or("the metrics TSDB is not open yet")?;
        let mut inner = self.inner.lock();
        let jobs = effective_jobs(cfg, inner.self_target.as_deref());
        let seed = jitter_seed(&cfg.global);
        let mut compiled = Vec::with_capacity(jobs.len());
        for sc in &jobs {
            let fp = fingerprint(sc, &cfg.global);
            let unchanged = inner.pools.get(&sc.job_name).is_some_and(|p| p.fingerprint == fp);
            let spec = if unchanged {
                None
            } else {
                Some(PoolSpec::compile(sc, &cfg.global, seed)?)
            };
            compiled.push((sc.job_name.clone(), fp, spec));
        }
        let keep: std::collections::HashSet<&str> = jobs.iter().map(|j| j.job_name.as_str()).collect();
        let removed: Vec<String> = inner
            .pools
            .keys()
            .filter(|k| !keep.contains(k.as_str()))
            .cloned()
            .collect();
        for job in removed {
            if let Some(p) = inner.pools.remove(&job) {
                p.stop.send_replace(Stop::Removed);
                self.registry.remove_pool(&job);
                tracing::info!(job, "scrape pool removed");
            }
        }
        for (job, fp, spec) in compiled {
            let Some(spec) = spec else { continue };
            if let Some(old) = inner.pools.remove(&job) {
                old.stop.send_replace(Stop::Removed);
                tracing::info!(job, "scrape pool config changed, restarting it");
            }
            let (tx, rx) = watch::channel(Stop::Running);
            let join = tokio::spawn(pool::run(spec, tsdb.clone(), self.registry.clone(), rx));
            inner.pools.insert(
                job,
                PoolHandle {
                    fingerprint: fp,
                    stop: tx,
                    join,
                },
            );
        }
        Ok(())
    }

    /// The config file scrape configs are reloaded from, if any.
    pub fn config_path(&self) -> Option<PathBuf> {
        self.inner.lock().config_path.clone()
    }

    /// Re-reads the config file and applies its scrape part. Errors (unreadable or invalid
    /// file) leave the running config alone.
    pub async fn reload(&self) -> Result<(), String> {
        let _guard = self.reload_lock.lock().await;
        let path = self.inner.lock().config_path.clone();
        let cfg = match path {
            Some(p) => tokio::task::spawn_blocking(move || Config::load(&p))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("{e:#}"))?,
            None => Config::default(),
        };
        self.apply(&cfg)?;
        tracing::info!("configuration reloaded (scrape configs)");
        Ok(())
    }

    /// Stops every pool without end-of-run markers and waits (bounded) for the tasks.
    pub async fn shutdown(&self) {
        let pools: Vec<PoolHandle> = self.inner.lock().pools.drain().map(|(_, p)| p).collect();
        for p in &pools {
            p.stop.send_replace(Stop::Shutdown);
        }
        let all = futures_join(pools.into_iter().map(|p| p.join).collect());
        if tokio::time::timeout(SHUTDOWN_WAIT, all).await.is_err() {
            tracing::warn!("scrape tasks did not stop in time");
        }
    }
}

async fn futures_join(handles: Vec<JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}

/// The jobs to run: the configured ones, or the self-scrape when there are none.
fn effective_jobs(cfg: &Config, self_target: Option<&str>) -> Vec<ScrapeConfig> {
    if !cfg.scrape_configs.is_empty() {
        return cfg.scrape_configs.clone();
    }
    let Some(addr) = self_target else { return Vec::new() };
    let mut sc = ScrapeConfig {
        job_name: SELF_JOB.to_owned(),
        static_configs: vec![StaticConfig {
            targets: vec![addr.to_owned()],
            labels: Default::default(),
        }],
        ..Default::default()
    };
    // (Users given only as bcrypt hashes cannot be sent: then the self-scrape gets 401.)
    if let Some(AccessRule {
        bearer_token,
        bearer_token_file,
        basic_auth,
        ..
    }) = &cfg.auth.read
    {
        if basic_auth.is_some() {
            sc.basic_auth.clone_from(basic_auth);
        } else {
            sc.bearer_token.clone_from(bearer_token);
            sc.bearer_token_file.clone_from(bearer_token_file);
        }
    }
    if cfg.server.tls_server_config.is_some() {
        // Its own listener, on loopback: the certificate need not name 127.0.0.1.
        sc.scheme = Some("https".to_owned());
        sc.tls_config = Some(crate::config::http_client::TlsConfig {
            insecure_skip_verify: true,
            ..Default::default()
        });
    }
    vec![sc]
}

/// Identity of a pool's effective config, secrets included (their `Serialize` hides them).
fn fingerprint(sc: &ScrapeConfig, global: &GlobalConfig) -> String {
    let mut fp = serde_json::to_string(&(sc, global)).unwrap_or_default();
    let secrets = [
        sc.basic_auth.as_ref().and_then(|b| b.password.as_ref()),
        sc.authorization.as_ref().and_then(|a| a.credentials.as_ref()),
        sc.bearer_token.as_ref(),
        sc.tls_config.as_ref().and_then(|t| t.key.as_ref()),
    ];
    for s in secrets.into_iter().flatten() {
        fp.push('\0');
        fp.push_str(s.expose());
    }
    fp
}

/// A seed from the external labels, so differently labelled instances scrape at different
/// offsets.
fn jitter_seed(global: &GlobalConfig) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in &global.external_labels {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    if global.external_labels.is_empty() { 0 } else { h }
}

/// `POST /-/reload`: 200 when the config was reloaded, 500 with the reason otherwise (the
/// running config stays), as Prometheus answers.
pub async fn reload_handler(State(state): State<AppState>) -> Response {
    let result = match state.scrape.reload().await {
        Ok(()) => state.rules.reload().await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            let path = state.scrape.config_path();
            let cfg = match path {
                Some(p) => tokio::task::spawn_blocking(move || Config::load(&p))
                    .await
                    .ok()
                    .and_then(Result::ok),
                None => Some(Config::default()),
            };
            state.status.loaded(cfg.as_ref().ok_or(()));
            (StatusCode::OK, "").into_response()
        }
        Err(e) => {
            state.status.loaded(Err(()));
            tracing::error!(error = %e, "reloading the configuration failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("failed to reload config: {e}\n"),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;
