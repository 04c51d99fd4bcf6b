//! nerve's own `storage:` section: where data lives, retention per signal, WAL fsync policy.
//!
//! Prometheus' `storage:` section (`tsdb.out_of_order_time_window`, `exemplars.max_exemplars`)
//! shares the key, so its two sub-keys are accepted here too.

use std::path::PathBuf;
use std::time::Duration;

use nerve_storage::logs::LogStoreOptions;
use nerve_storage::metrics::{SyncPolicy, TsdbOptions};
use nerve_storage::traces::SpanStoreOptions;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::units::{ByteSize, PromDuration};

/// The `storage:` section.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Data directory (default `./data`; `--data-dir` overrides it). Each signal owns a
    /// sub-directory: `metrics/`, later `logs/` and `traces/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// The metrics TSDB.
    #[serde(default)]
    pub metrics: MetricsStorageConfig,
    /// The write-ahead log shared policy.
    #[serde(default)]
    pub wal: WalConfig,
    /// The log store.
    #[serde(default)]
    pub logs: LogsStorageConfig,
    /// The span store.
    #[serde(default)]
    pub traces: SignalRetention,
    /// Prometheus compatibility: `storage.tsdb.out_of_order_time_window`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsdb: Option<PrometheusTsdbConfig>,
    /// Prometheus compatibility: `storage.exemplars.max_exemplars` (a global ring size in
    /// Prometheus; nerve bounds exemplars per series instead, so the value is accepted and
    /// not used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exemplars: Option<PrometheusExemplarsConfig>,
}

/// `storage.metrics`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsStorageConfig {
    /// How long samples are kept (default `15d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<PromDuration>,
    /// Maximum bytes of blocks on disk; oldest blocks go first (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_size: Option<ByteSize>,
    /// How far behind a series' newest sample a sample may still be accepted (default `0s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_order_window: Option<PromDuration>,
    /// Time range of one block cut from the head (default `2h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_duration: Option<PromDuration>,
    /// Exemplars kept per series (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_exemplars_per_series: Option<usize>,
}

/// `storage.wal`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WalConfig {
    /// When writes reach the disk: a duration (at most that much is lost on power failure;
    /// default `1s`), `always` (fsync before answering) or `never` (leave it to the OS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fsync: Option<FsyncPolicy>,
    /// Size at which a WAL segment file is closed and a new one started (default 128MB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_size: Option<ByteSize>,
}

/// `storage.logs`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogsStorageConfig {
    /// How long log lines are kept (default `7d`); whole partitions are deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<PromDuration>,
    /// Most bytes of log partitions on disk (default: no limit); the oldest go first, the
    /// newest never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_size: Option<ByteSize>,
    /// Time span of one index partition (default `1d`): the retention granularity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<PromDuration>,
    /// How far behind its stream's newest line a line is still accepted (default `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_order_window: Option<PromDuration>,
    /// How far in the future a line's timestamp may be (default `10m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub future_grace: Option<PromDuration>,
    /// Longest time new lines wait in the in-memory head before they are flushed to compressed,
    /// indexed chunks (default `1m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_interval: Option<PromDuration>,
}

/// `storage.traces`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SignalRetention {
    /// How long data is kept (default `7d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<PromDuration>,
    /// Maximum bytes on disk (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_size: Option<ByteSize>,
}

/// Prometheus' `storage.tsdb`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusTsdbConfig {
    /// Same as `storage.metrics.out_of_order_window`, which wins when both are set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_order_time_window: Option<PromDuration>,
}

/// Prometheus' `storage.exemplars`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusExemplarsConfig {
    /// Accepted, not used (see [`StorageConfig::exemplars`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_exemplars: Option<i64>,
}

/// WAL fsync policy as written in the config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// `always`: fsync on every commit, before the write is answered.
    Always,
    /// A duration such as `1s`: fsync at most that long after a commit.
    Interval(PromDuration),
    /// `never`: leave flushing to the OS.
    Never,
}

impl FsyncPolicy {
    fn to_sync_policy(self) -> SyncPolicy {
        match self {
            FsyncPolicy::Always => SyncPolicy::Always,
            FsyncPolicy::Never => SyncPolicy::Never,
            FsyncPolicy::Interval(d) => SyncPolicy::Interval(d.get()),
        }
    }
}

impl<'de> Deserialize<'de> for FsyncPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "always" => Ok(FsyncPolicy::Always),
            "never" => Ok(FsyncPolicy::Never),
            other => match PromDuration::parse(other) {
                Ok(d) if d.get().is_zero() => Ok(FsyncPolicy::Always),
                Ok(d) => Ok(FsyncPolicy::Interval(d)),
                Err(_) => Err(serde::de::Error::custom(format!(
                    "invalid fsync policy {other:?}: want \"always\", \"never\" or a duration like \"1s\""
                ))),
            },
        }
    }
}

impl Serialize for FsyncPolicy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FsyncPolicy::Always => s.serialize_str("always"),
            FsyncPolicy::Never => s.serialize_str("never"),
            FsyncPolicy::Interval(d) => s.collect_str(d),
        }
    }
}

/// Bounds on the WAL segment size: small enough to recycle, large enough to avoid churn.
const MIN_SEGMENT: u64 = 1 << 20;
const MAX_SEGMENT: u64 = 1 << 30;

impl StorageConfig {
    /// Checks value ranges.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(b) = self.metrics.block_duration
            && b.get() < Duration::from_secs(60)
        {
            return Err(format!("storage.metrics.block_duration {b} is too short (minimum 1m)"));
        }
        if let Some(r) = self.metrics.retention
            && r.get().is_zero()
        {
            return Err("storage.metrics.retention must be greater than 0".to_owned());
        }
        for (name, d, min) in [
            ("storage.logs.retention", self.logs.retention, Duration::from_secs(60)),
            ("storage.logs.partition", self.logs.partition, Duration::from_secs(60)),
            (
                "storage.logs.commit_interval",
                self.logs.commit_interval,
                Duration::from_millis(10),
            ),
        ] {
            if let Some(d) = d
                && d.get() < min
            {
                return Err(format!("{name} {d} is too short (minimum {})", PromDuration(min)));
            }
        }
        if let Some(s) = self.wal.segment_size
            && !(MIN_SEGMENT..=MAX_SEGMENT).contains(&s.bytes())
        {
            return Err(format!("storage.wal.segment_size {s} must be between 1MB and 1GB"));
        }
        Ok(())
    }

    /// The options the log store is opened with.
    pub fn log_store_options(&self) -> LogStoreOptions {
        let mut o = LogStoreOptions::default();
        let l = &self.logs;
        if let Some(r) = l.retention {
            o.retention = r.get();
        }
        if let Some(b) = l.retention_size {
            o.retention_bytes = Some(b.bytes());
        }
        if let Some(p) = l.partition {
            o.partition = p.get();
        }
        if let Some(w) = l.out_of_order_window {
            o.out_of_order_window = w.get();
        }
        if let Some(g) = l.future_grace {
            o.future_grace = g.get();
        }
        if let Some(c) = l.commit_interval {
            o.commit_interval = c.get();
        }
        if let Some(s) = self.wal.segment_size {
            o.wal_segment_size = s.bytes();
        }
        if let Some(f) = self.wal.fsync {
            o.sync = f.to_sync_policy();
        }
        o
    }

    /// The options the span store is opened with.
    pub fn span_store_options(&self) -> SpanStoreOptions {
        let mut o = SpanStoreOptions::default();
        if let Some(r) = self.traces.retention {
            o.retention = r.get();
        }
        if let Some(b) = self.traces.retention_size {
            o.retention_bytes = Some(b.bytes());
        }
        if let Some(s) = self.wal.segment_size {
            o.wal_segment_size = s.bytes();
        }
        if let Some(f) = self.wal.fsync {
            o.sync = f.to_sync_policy();
        }
        o
    }

    /// The options the metrics TSDB is opened with: the storage defaults, overridden by
    /// whatever the file sets.
    pub fn tsdb_options(&self) -> TsdbOptions {
        let mut o = TsdbOptions::default();
        let m = &self.metrics;
        if let Some(r) = m.retention {
            o.retention = r.get();
        }
        if let Some(s) = m.retention_size {
            o.max_bytes = Some(s.bytes());
        }
        if let Some(b) = m.block_duration {
            o.block_duration = b.get();
        }
        let ooo = m
            .out_of_order_window
            .or_else(|| self.tsdb.as_ref().and_then(|t| t.out_of_order_time_window));
        if let Some(w) = ooo {
            o.out_of_order_window = w.get();
        }
        if let Some(n) = m.max_exemplars_per_series {
            o.max_exemplars_per_series = n;
        }
        if let Some(s) = self.wal.segment_size {
            o.wal_segment_size = s.bytes();
        }
        if let Some(f) = self.wal.fsync {
            o.sync = f.to_sync_policy();
        }
        o
    }
}
