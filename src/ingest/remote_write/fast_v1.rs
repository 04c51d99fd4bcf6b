//! The remote-write 1.0 hot path: walks the decompressed request in place
//! ([`nerve_proto::remote_write::for_each_series_v1`]) and appends by raw label pairs, so a request whose
//! series already exist allocates nothing per series. Same checks and answers as the generic
//! path in the parent module.

use nerve_storage::Labels;
use nerve_storage::metrics::{Exemplar, Tsdb};

use super::{Outcome, WriteLimits, check_label_order, to_metadata};
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

/// Appends everything storable from a decompressed 1.0 request and commits it.
pub(super) fn store_v1(tsdb: &Tsdb, raw: &[u8], limits: &WriteLimits) -> Result<Outcome, ApiError> {
    let mut out = Outcome::default();
    let mut app = tsdb.appender();
    let walked = nerve_proto::remote_write::for_each_series_v1::<Stop>(raw, |s| {
        out.histograms_dropped += s.histograms as u64;
        if let Err(msg) = limits.check(&s.labels).and_then(|()| check_label_order(&s.labels)) {
            out.samples_rejected += s.samples.len() as u64;
            out.first_error.get_or_insert(msg);
            return Ok(());
        }
        let mut newest = None;
        for &(t, v) in &s.samples {
            match app.append_pairs(&s.labels, t, v) {
                Ok(()) => {
                    out.samples_written += 1;
                    newest = newest.max(Some(t));
                }
                Err(e) if e.is_bad_data() => {
                    out.samples_rejected += 1;
                    out.first_error.get_or_insert_with(|| e.to_string());
                }
                Err(e) => return Err(Stop::Storage(e.into())),
            }
        }
        if s.exemplars.is_empty() {
            return Ok(());
        }
        let Ok(series) = Labels::from_pairs(s.labels.iter().copied()) else {
            return Ok(());
        };
        for (labels, value, ts) in &s.exemplars {
            let Some(t) = (*ts != 0).then_some(*ts).or(newest) else {
                continue;
            };
            let stored = Labels::from_pairs(labels.iter().copied()).and_then(|el| {
                app.append_exemplar(
                    &series,
                    Exemplar {
                        labels: el,
                        t,
                        v: *value,
                    },
                )
            });
            match stored {
                Ok(()) => out.exemplars_written += 1,
                // Prometheus logs exemplar refusals and does not fail the request for them.
                Err(e) if e.is_bad_data() => tracing::debug!(series = %series, error = %e, "exemplar dropped"),
                Err(e) => return Err(Stop::Storage(e.into())),
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
    for md in metadata.iter().filter(|m| !m.metric_family.is_empty()) {
        app.update_metadata(&md.metric_family, to_metadata(md));
    }
    super::commit(app, out, limits)
}
