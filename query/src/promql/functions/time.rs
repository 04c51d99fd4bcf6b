//! Date parts of a Unix time in UTC: `year`, `month`, `day_of_month`, `day_of_week`,
//! `day_of_year`, `days_in_month`, `hour`, `minute` (the argument defaults to `vector(time())`).

use crate::gofmt::{civil_from_days, days_in_month};
use crate::promql::labels::drop_metric_name;
use crate::promql::value::{InstantSample, Vector};

/// Applies date part `name` to every element (seconds since the epoch), dropping the name.
pub(super) fn date_part(name: &str, v: Vector, ts: i64) -> Vector {
    v.into_iter()
        .map(|s| InstantSample {
            labels: drop_metric_name(&s.labels),
            t: ts,
            v: part(name, s.v),
        })
        .collect()
}

fn part(name: &str, secs: f64) -> f64 {
    if !secs.is_finite() {
        // Go converts NaN/Inf to an arbitrary int64; there is no meaningful date.
        return f64::NAN;
    }
    let secs = secs as i64; // truncation toward zero, like Go's int64(f)
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let r = match name {
        "year" => y,
        "month" => m,
        "day_of_month" => d,
        "day_of_week" => (days + 4).rem_euclid(7),
        "day_of_year" => (1..m).map(|k| days_in_month(y, k)).sum::<i64>() + d,
        "days_in_month" => days_in_month(y, m),
        "hour" => sod / 3600,
        "minute" => sod % 3600 / 60,
        _ => return f64::NAN,
    };
    r as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        // 2024-02-29T13:45:00Z, a Thursday.
        let t = 1_709_214_300.0;
        assert_eq!(part("year", t), 2024.0);
        assert_eq!(part("month", t), 2.0);
        assert_eq!(part("day_of_month", t), 29.0);
        assert_eq!(part("day_of_week", t), 4.0);
        assert_eq!(part("day_of_year", t), 60.0);
        assert_eq!(part("days_in_month", t), 29.0);
        assert_eq!(part("hour", t), 13.0);
        assert_eq!(part("minute", t), 45.0);
        assert_eq!(part("day_of_week", 0.0), 4.0);
    }
}
