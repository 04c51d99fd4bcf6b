//! What rules read and write: PromQL over the TSDB, LogQL metric queries over the log store,
//! and the TSDB appender for rule output. Synchronous; callers run it off the async runtime.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nerve_query::logql::{self, LogValue};
use nerve_query::promql::{Engine, QueryValue};
use nerve_storage::logs::LogStore;
use nerve_storage::metrics::Tsdb;
use nerve_storage::{Labels, MatchOp, Matcher};

use super::alert::ForStateSeries;
use super::file::Language;
use super::template::QuerySamples;

/// Longest one rule query may run.
const RULE_QUERY_TIMEOUT: Duration = Duration::from_secs(60);
/// Most series a log rule's result may hold.
const MAX_LOG_RULE_SERIES: usize = 100_000;
/// Most samples one LogQL rule query may extract (16 bytes each while it runs).
const MAX_LOG_RULE_SAMPLES: usize = 10_000_000;

/// Rule evaluation's access to the stores.
#[derive(Clone)]
pub struct Querier {
    /// The metrics TSDB (queries and rule output).
    pub tsdb: Arc<Tsdb>,
    /// The log store, for LogQL groups (None: log rules fail with an error).
    pub logs: Option<Arc<LogStore>>,
    engine: Engine,
}

impl Querier {
    /// A querier over the given stores.
    pub fn new(tsdb: Arc<Tsdb>, logs: Option<Arc<LogStore>>) -> Self {
        Querier {
            tsdb,
            logs,
            engine: Engine::default(),
        }
    }

    /// Evaluates `expr` at `t_ms` as an instant vector. A scalar becomes one sample without
    /// labels (as Prometheus does for rules); other result types are errors.
    pub fn instant(&self, lang: Language, expr: &str, t_ms: i64) -> Result<Vec<(Labels, f64)>, String> {
        match lang {
            Language::Promql => match self
                .engine
                .instant(&*self.tsdb, expr, t_ms, Some(RULE_QUERY_TIMEOUT))
                .map_err(|e| e.to_string())?
            {
                QueryValue::Vector { samples, .. } => Ok(samples.into_iter().map(|s| (s.labels, s.v)).collect()),
                QueryValue::Scalar { v, .. } => Ok(vec![(Labels::empty(), v)]),
                _ => Err("rule result is not a vector or scalar".into()),
            },
            Language::Logql => {
                let store = self.logs.as_ref().ok_or("the log store is not open")?;
                let limits = logql::Limits {
                    max_series: MAX_LOG_RULE_SERIES,
                    max_entries: 5000,
                    max_samples: MAX_LOG_RULE_SAMPLES,
                    deadline: Instant::now().checked_add(RULE_QUERY_TIMEOUT),
                };
                let v = logql::eval_instant(
                    &**store,
                    expr,
                    t_ms.saturating_mul(1_000_000),
                    100,
                    logql::Direction::Backward,
                    &limits,
                )
                .map_err(|e| e.to_string())?;
                match v {
                    LogValue::Vector(samples) => Ok(samples.into_iter().map(|s| (s.labels, s.value)).collect()),
                    LogValue::Scalar(_, v) => Ok(vec![(Labels::empty(), v)]),
                    _ => Err("rule result is not a vector or scalar".into()),
                }
            }
        }
    }

    /// The template `query` function: PromQL at `t_ms`, labels as a map.
    pub fn template_query(&self, q: &str, t_ms: i64) -> Result<QuerySamples, String> {
        Ok(self
            .instant(Language::Promql, q, t_ms)?
            .into_iter()
            .map(|(l, v)| (l.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(), v))
            .collect())
    }

    /// Writes `samples` at `t_ms` in one commit; returns how many were refused.
    pub fn append(&self, samples: &[(Labels, f64)], t_ms: i64) -> Result<usize, String> {
        if samples.is_empty() {
            return Ok(0);
        }
        let mut app = self.tsdb.appender();
        let mut refused = 0;
        for (l, v) in samples {
            if app.append(l, t_ms, *v).is_err() {
                refused += 1;
            }
        }
        app.commit().map_err(|e| e.to_string())?;
        Ok(refused)
    }

    /// `ALERTS_FOR_STATE{alertname=...}` series with samples in `[t_ms - tolerance_ms, t_ms]`,
    /// labels without `__name__`.
    pub fn for_state(&self, alertname: &str, t_ms: i64, tolerance_ms: i64) -> Result<ForStateSeries, String> {
        let q = self
            .tsdb
            .querier(t_ms - tolerance_ms, t_ms)
            .map_err(|e| e.to_string())?;
        let m = [
            Matcher::new(MatchOp::Equal, "__name__", "ALERTS_FOR_STATE").map_err(|e| e.to_string())?,
            Matcher::new(MatchOp::Equal, "alertname", alertname).map_err(|e| e.to_string())?,
        ];
        let mut out = Vec::new();
        for s in q.select(&m).map_err(|e| e.to_string())? {
            let labels = s
                .labels
                .iter()
                .filter(|(k, _)| *k != "__name__")
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let mut it = s.iter();
            let mut samples = Vec::new();
            while let Some(x) = it.next() {
                samples.push(x);
            }
            out.push((labels, samples));
        }
        Ok(out)
    }
}
