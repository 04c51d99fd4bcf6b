//! Cardinality limits on new head series: a global cap and a cap per metric name.
//!
//! Checked when a writer creates a series (never during WAL replay, which restores what was
//! accepted). A refused series is [`Error::LimitExceeded`], a per-sample refusal: the rest of
//! the batch, samples of existing series included, is still stored. The check runs under the
//! series' shard lock, so concurrent creators in other shards can overshoot a cap by at most
//! one series each.

use std::sync::atomic::Ordering;

use super::Head;
use crate::error::{Error, Result};
use crate::labels::Labels;

impl Head {
    /// Refuses a new series with `labels` when it would break `max_series` or
    /// `max_series_per_metric`.
    pub(super) fn check_series_limits(&self, labels: &Labels) -> Result<()> {
        let max = self.opts.max_series;
        if max > 0 && self.num_series() >= max {
            self.series_refused.fetch_add(1, Ordering::Relaxed);
            return Err(Error::LimitExceeded(format!(
                "series limit of {max} reached (limits.max_series): new series {labels} refused"
            )));
        }
        let per_metric = self.opts.max_series_per_metric;
        if per_metric > 0 {
            let name = labels.get("__name__").unwrap_or("");
            let have = self
                .postings
                .read()
                .map
                .get("__name__")
                .and_then(|values| values.get(name))
                .map_or(0, |ids| ids.len());
            if have >= per_metric {
                self.series_refused.fetch_add(1, Ordering::Relaxed);
                return Err(Error::LimitExceeded(format!(
                    "per-metric series limit of {per_metric} reached for metric {name:?} \
                     (limits.max_series_per_metric): new series {labels} refused"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::metrics::{Tsdb, TsdbOptions};
    use crate::{Error, Labels};

    fn series(name: &str, i: usize) -> Labels {
        Labels::from_pairs([("__name__", name.to_string()), ("i", i.to_string())]).unwrap()
    }

    #[test]
    fn global_and_per_metric_caps_refuse_only_new_series() {
        let dir = tempfile::tempdir().unwrap();
        let opts = TsdbOptions {
            max_series: 5,
            max_series_per_metric: 3,
            ..Default::default()
        };
        let db = Tsdb::open(dir.path(), opts.clone()).unwrap();
        let mut app = db.appender();
        for i in 0..3 {
            app.append(&series("a", i), 1000, 1.0).unwrap();
        }
        let e = app.append(&series("a", 3), 1000, 1.0).unwrap_err();
        assert!(matches!(e, Error::LimitExceeded(_)), "{e}");
        assert!(e.is_bad_data());
        assert!(e.to_string().contains("limits.max_series_per_metric"), "{e}");
        app.append(&series("b", 0), 1000, 1.0).unwrap();
        app.append(&series("b", 1), 1000, 1.0).unwrap();
        let e = app.append(&series("c", 0), 1000, 1.0).unwrap_err();
        assert!(
            e.to_string().contains("series limit of 5 reached (limits.max_series)"),
            "{e}"
        );
        // Existing series keep taking samples.
        app.append(&series("a", 0), 2000, 2.0).unwrap();
        app.commit().unwrap();
        let stats = db.stats();
        assert_eq!(stats.head_series, 5);
        assert_eq!(stats.series_refused_total, 2);
        db.close().unwrap();

        // Replay restores everything even under a smaller limit.
        let db = Tsdb::open(dir.path(), TsdbOptions { max_series: 1, ..opts }).unwrap();
        assert_eq!(db.stats().head_series, 5);
        assert!(db.appender().append(&series("d", 0), 3000, 1.0).is_err());
    }
}
