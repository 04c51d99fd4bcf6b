//! `GET /api/v1/status/config` (`{"yaml": …}`, the running configuration with secrets shown as
//! `<secret>`) and `GET /api/v1/status/runtimeinfo` in Prometheus' shape, with tokio's task
//! and worker counts where Prometheus reports goroutines and `GOMAXPROCS`.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use parking_lot::RwLock;
use serde::Serialize;

use super::envelope::Success;
use super::targets::rfc3339;
use crate::config::Config;
use crate::state::AppState;

/// What the status endpoints report; updated by `/-/reload`.
#[derive(Debug)]
pub struct RuntimeStatus {
    start: SystemTime,
    cwd: String,
    /// The running configuration as YAML.
    config_yaml: RwLock<String>,
    reload_success: AtomicBool,
    /// Seconds since the epoch of the last (attempted) configuration load.
    last_config_time: AtomicI64,
    retention: String,
}

impl RuntimeStatus {
    /// The status of a server started now with `cfg`.
    pub fn new(cfg: &Config) -> RuntimeStatus {
        let start = SystemTime::now();
        let s = RuntimeStatus {
            start,
            cwd: std::env::current_dir().map_or_else(|_| String::new(), |p| p.display().to_string()),
            config_yaml: RwLock::new(String::new()),
            reload_success: AtomicBool::new(true),
            last_config_time: AtomicI64::new(0),
            retention: retention(cfg),
        };
        s.loaded(Ok(cfg));
        s
    }

    /// Records a configuration load: the new YAML on success, the failure otherwise.
    pub fn loaded(&self, cfg: Result<&Config, ()>) {
        self.last_config_time
            .store(unix_secs(SystemTime::now()), Ordering::Relaxed);
        self.reload_success.store(cfg.is_ok(), Ordering::Relaxed);
        if let Ok(cfg) = cfg {
            *self.config_yaml.write() = serde_saphyr::to_string(cfg).unwrap_or_else(|e| format!("# {e}\n"));
        }
    }
}

fn retention(cfg: &Config) -> String {
    let o = cfg.storage.tsdb_options();
    let time = crate::config::units::PromDuration(o.retention).to_string();
    match o.max_bytes {
        Some(b) => format!("{time} or {}", crate::config::units::ByteSize(b)),
        None => time,
    }
}

fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[derive(Serialize)]
struct ConfigBody {
    yaml: String,
}

/// `GET /api/v1/status/config`.
pub async fn config(State(state): State<AppState>) -> Response {
    let yaml = state.status.config_yaml.read().clone();
    Success::new(ConfigBody { yaml }).into_response()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RuntimeInfo {
    start_time: String,
    #[serde(rename = "CWD")]
    cwd: String,
    reload_config_success: bool,
    last_config_time: String,
    corruption_count: u64,
    goroutine_count: usize,
    #[serde(rename = "GOMAXPROCS")]
    gomaxprocs: usize,
    #[serde(rename = "GOMEMLIMIT")]
    gomemlimit: u64,
    #[serde(rename = "GOGC")]
    gogc: &'static str,
    #[serde(rename = "GODEBUG")]
    godebug: &'static str,
    storage_retention: String,
}

/// `GET /api/v1/status/runtimeinfo`.
pub async fn runtime_info(State(state): State<AppState>) -> Response {
    let s = &state.status;
    let rt = tokio::runtime::Handle::current().metrics();
    let last = s.last_config_time.load(Ordering::Relaxed);
    Success::new(RuntimeInfo {
        start_time: rfc3339(s.start),
        cwd: s.cwd.clone(),
        reload_config_success: s.reload_success.load(Ordering::Relaxed),
        last_config_time: rfc3339(UNIX_EPOCH + std::time::Duration::from_secs(last.max(0) as u64)),
        corruption_count: 0,
        goroutine_count: rt.num_alive_tasks(),
        gomaxprocs: rt.num_workers(),
        gomemlimit: state.memory.limit(),
        gogc: "",
        godebug: "",
        storage_retention: s.retention.clone(),
    })
    .into_response()
}
