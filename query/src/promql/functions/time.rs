//! Date parts of a Unix time in UTC: `year`, `month`, `day_of_month`, `day_of_week`,
//! `day_of_year`, `days_in_month`, `hour`, `minute` (the argument defaults to `vector(time())`).

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
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let r = match name {
        "year" => y,
        "month" => m,
        "day_of_month" => d,
        "day_of_week" => (days + 4).rem_euclid(7),
        "day_of_year" => month_days[..(m - 1) as usize].iter().sum::<i64>() + d,
        "days_in_month" => month_days[(m - 1) as usize],
        "hour" => sod / 3600,
        "minute" => sod % 3600 / 60,
        _ => return f64::NAN,
    };
    r as f64
}

/// (year, month 1..=12, day 1..=31) of a day count since 1970-01-01 (Howard Hinnant).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
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
