//! One task per target: wait for the target's offset, then scrape every interval, write the
//! samples and the synthetic series, and record the outcome for the targets API. When the
//! target is removed (discovery or reload), write staleness markers for all its series at
//! the slot of its next scrape, as Prometheus does; on process shutdown write nothing.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nerve_proto::exposition::Format;
use nerve_storage::metrics::Tsdb;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::append::{AppendSettings, Counts, SeriesCache};
use super::fetch::Fetcher;
use super::status::TargetStatus;

/// What a running target or pool is told to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Keep scraping.
    Running,
    /// The target is gone: write end-of-run staleness markers, then stop.
    Removed,
    /// nerve is shutting down: stop now, write nothing more.
    Shutdown,
}

/// What every target of one scrape pool shares.
#[derive(Debug)]
pub struct JobRuntime {
    /// The pool's HTTP client.
    pub fetcher: Fetcher,
    /// How samples are written.
    pub append: AppendSettings,
    /// Mixed into every target's offset (from the external labels), like Prometheus'
    /// jitter seed, so two nerve instances with different external labels spread apart.
    pub jitter_seed: u64,
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Delay until this target's first scrape: scrapes happen at wall-clock times congruent to
/// `(key ^ seed) % interval`, so they stay spread across the interval and keep their phase
/// over restarts.
pub fn first_delay(key: u64, seed: u64, interval: Duration, now: SystemTime) -> Duration {
    let iv = interval.as_nanos().max(1);
    let now_ns = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let offset = u128::from(key ^ seed) % iv;
    let base = iv - now_ns % iv;
    let mut next = base + offset;
    if next > iv {
        next -= iv;
    }
    Duration::from_nanos(u64::try_from(next).unwrap_or(u64::MAX))
}

/// Runs one target until `stop` leaves [`Stop::Running`].
pub async fn run(status: Arc<TargetStatus>, job: Arc<JobRuntime>, tsdb: Arc<Tsdb>, mut stop: watch::Receiver<Stop>) {
    let spec = &status.spec;
    let mut cache = match SeriesCache::new(spec.labels.clone()) {
        Ok(c) => c,
        Err(e) => {
            status.record(SystemTime::now(), 0.0, Some(e));
            return;
        }
    };
    let delay = first_delay(spec.key, job.jitter_seed, spec.interval, SystemTime::now());
    let mut ticker = tokio::time::interval_at((Instant::now() + delay).into(), spec.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut scraped = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            r = stop.changed() => if r.is_err() { return } else { break },
        }
        if *stop.borrow() != Stop::Running {
            break;
        }
        let wall = SystemTime::now();
        let t_ms = unix_ms(wall);
        let started = Instant::now();
        let fetched = job.fetcher.fetch(&spec.url, spec.timeout).await;
        let (tsdb2, job2) = (tsdb.clone(), job.clone());
        let done = tokio::task::spawn_blocking(move || {
            let (counts, err) = match fetched {
                Ok(f) => match Format::from_content_type(f.content_type.as_deref()) {
                    Some(format) => {
                        let (c, r) = cache.append_scrape(&tsdb2, &f.body, format, t_ms, &job2.append);
                        (c, r.err())
                    }
                    None => {
                        cache.append_failure(&tsdb2, t_ms);
                        let ct = f.content_type.unwrap_or_default();
                        (Counts::default(), Some(format!("unsupported Content-Type {ct:?}")))
                    }
                },
                Err(e) => {
                    cache.append_failure(&tsdb2, t_ms);
                    (Counts::default(), Some(e))
                }
            };
            let duration_s = started.elapsed().as_secs_f64();
            cache.report(&tsdb2, t_ms, err.is_none(), duration_s, counts);
            (cache, err, duration_s)
        })
        .await;
        match done {
            Ok((c, err, duration_s)) => {
                cache = c;
                if let Some(e) = &err {
                    tracing::debug!(url = %spec.url, error = %e, "scrape failed");
                }
                status.record(wall, duration_s, err);
                scraped = true;
            }
            Err(e) => {
                tracing::error!(url = %spec.url, error = %e, "BUG: scrape append task failed; target stops");
                return;
            }
        }
    }
    if *stop.borrow() != Stop::Removed || !scraped {
        return;
    }
    // End-of-run staleness at the slot of the next scrape, unless nerve shuts down first.
    tokio::select! {
        _ = ticker.tick() => {}
        _ = stop.wait_for(|s| *s == Stop::Shutdown) => return,
    }
    let t_ms = unix_ms(SystemTime::now());
    let _ = tokio::task::spawn_blocking(move || cache.end_of_run(&tsdb, t_ms)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_stable_and_within_the_interval() {
        let iv = Duration::from_secs(15);
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let d = first_delay(42, 0, iv, now);
        assert!(d <= iv);
        // The first scrape lands on the same phase whatever "now" is.
        let phase = |now: SystemTime| {
            (now + first_delay(42, 0, iv, now))
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
                % iv.as_nanos()
        };
        assert_eq!(phase(now), phase(now + Duration::from_millis(7_777)));
        // Different targets get different phases.
        assert_ne!(
            phase(now),
            (now + first_delay(43, 0, iv, now))
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
                % iv.as_nanos()
        );
    }
}
