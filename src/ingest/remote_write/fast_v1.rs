//! The remote-write 1.0 hot path: walks the decompressed request in place
//! ([`nerve_proto::remote_write::for_each_series_v1`]) and appends by raw label pairs, so a request whose
//! series already exist allocates nothing per series. Same checks and answers as the generic
//! path, [`append::store`].

use nerve_storage::Labels;
use nerve_storage::metrics::Tsdb;

use crate::ingest::append::{self, Outcome, SeriesLimits};
use crate::servers::error::ApiError;

/// Why the walk stopped early.
enum Stop {
    Decode(nerve_proto::Error),
    Storage(ApiError),
}

impl From<nerve_proto::Error> for Stop {
    fn from(e: nerve_proto::Error) -> Self {
        Stop::Decode(e)
    }
}

impl From<ApiError> for Stop {
    fn from(e: ApiError) -> Self {
        Stop::Storage(e)
    }
}

/// Appends everything storable from a decompressed 1.0 request and commits it.
pub(super) fn store_v1(tsdb: &Tsdb, raw: &[u8], limits: &SeriesLimits) -> Result<Outcome, ApiError> {
    let mut out = Outcome::default();
    let mut app = tsdb.appender();
    let walked = nerve_proto::remote_write::for_each_series_v1::<Stop>(raw, |s| {
        out.histograms_dropped += s.histograms as u64;
        if let Err(msg) = limits.check(&s.labels) {
            out.reject_series(s.samples.len(), msg);
            return Ok(());
        }
        let mut newest = None;
        for &(t, v) in &s.samples {
            if out.count_sample(app.append_pairs(&s.labels, t, v))? {
                newest = newest.max(Some(t));
            }
        }
        if s.exemplars.is_empty() {
            return Ok(());
        }
        let Ok(series) = Labels::from_pairs(s.labels.iter().copied()) else {
            return Ok(());
        };
        for (labels, value, ts) in &s.exemplars {
            if let Some(t) = (*ts != 0).then_some(*ts).or(newest) {
                out.append_exemplar(&mut app, &series, labels.iter().copied(), t, *value)?;
            }
        }
        Ok(())
    });
    let metadata = match walked {
        Ok(m) => m,
        Err(stop) => {
            app.rollback();
            return Err(match stop {
                Stop::Decode(e) => ApiError::bad_data(e.to_string()),
                Stop::Storage(e) => e,
            });
        }
    };
    append::update_metadata(&mut app, metadata.iter());
    append::commit(app, out, limits)
}
