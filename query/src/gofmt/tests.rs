//! Go's outputs for the cases where nerve's former copies of this formatting disagreed with
//! each other or with Go (expected values: Go 1.2x `fmt`/`strconv`/`strings`/`time`, and
//! promtool 2.42 for the `humanize*` family).

use super::*;

#[test]
fn percent_v_of_float64_switches_to_exponent_at_1e6() {
    // `fmt.Sprint(x)`; LogQL's copy used to switch only from 1e21.
    assert_eq!(go_float(1e6), "1e+06");
    assert_eq!(go_float(1234567.0), "1.234567e+06");
    assert_eq!(go_float(999999.0), "999999");
    assert_eq!(go_float(123456.5), "123456.5");
    assert_eq!(go_float(1e20), "1e+20");
    assert_eq!(go_float(1e21), "1e+21");
    assert_eq!(go_float(-2.5e7), "-2.5e+07");
    assert_eq!(go_float(0.0001), "0.0001");
    assert_eq!(go_float(0.00001), "1e-05");
    assert_eq!(go_float(1.5e-300), "1.5e-300");
    assert_eq!(go_float(0.1 + 0.2), "0.30000000000000004");
    assert_eq!(go_float(-0.0), "-0");
    assert_eq!(go_float(f64::NAN), "NaN");
    assert_eq!(go_float(f64::INFINITY), "+Inf");
    assert_eq!(go_float(f64::NEG_INFINITY), "-Inf");
}

#[test]
fn format_float_f_e_and_g() {
    assert_eq!(go_f(1e21), "1000000000000000000000");
    assert_eq!(go_f(123456.789), "123456.789");
    assert_eq!(go_e(1.5e-7), "1.5e-07");
    assert_eq!(go_e(1e100), "1e+100");
    assert_eq!(fmt_e(1234.5678, 2), "1.23e+03");
    assert_eq!(fmt_e(f64::NAN, 6), "NaN");
    assert_eq!(fmt_g(1234567.0, 4), "1.235e+06");
    assert_eq!(fmt_g(0.00001234, 4), "1.234e-05");
    assert_eq!(fmt_g(12.0, 4), "12");
    assert_eq!(fmt_g(100000.0, 4), "1e+05");
    assert_eq!(fmt_g(0.5, 4), "0.5");
    assert_eq!(fmt_g(f64::NEG_INFINITY, 4), "-Inf");
}

#[test]
fn strings_title_splits_like_go() {
    // `strings.Title`: the rules copy treated every non-alphanumeric rune as a separator, the
    // LogQL copy did not split at `'` and capitalised only letters.
    assert_eq!(title("o'neil is here"), "O'Neil Is Here");
    assert_eq!(title("foo-bar_baz qux.quux"), "Foo-Bar_baz Qux.Quux");
    assert_eq!(title("hello wOrld"), "Hello WOrld");
    assert_eq!(title("€uro x"), "€uro X");
    assert_eq!(title("élan vital"), "Élan Vital");
    assert_eq!(title("ǆemal"), "ǅemal");
    assert_eq!(title("ßa"), "ßa");
    assert_eq!(title("1st"), "1st");
    assert_eq!(title(""), "");
}

#[test]
fn humanize_family() {
    assert_eq!(humanize(1234567.0), "1.235M");
    assert_eq!(humanize(0.0012), "1.2m");
    assert_eq!(humanize(-1500.0), "-1.5k");
    assert_eq!(humanize(1e30), "1e+06Y");
    assert_eq!(humanize(0.0), "0");
    assert_eq!(humanize(f64::INFINITY), "+Inf");
    assert_eq!(humanize1024(1048576.0), "1Mi");
    assert_eq!(humanize1024(1.0), "1");
    assert_eq!(humanize1024(1536.0), "1.5ki");
    assert_eq!(humanize_duration(899.99), "14m 59s");
    assert_eq!(humanize_duration(0.0), "0s");
    assert_eq!(humanize_duration(1.5), "1.5s");
    assert_eq!(humanize_duration(0.25), "250ms");
    assert_eq!(humanize_duration(90061.0), "1d 1h 1m 1s");
    assert_eq!(humanize_duration(-65.0), "-1m 5s");
    assert_eq!(humanize_percentage(0.1234567), "12.35%");
}

#[test]
fn calendar_and_time_strings() {
    assert_eq!(go_time(0), "1970-01-01 00:00:00 +0000 UTC");
    assert_eq!(go_time(1_500_000_000), "1970-01-01 00:00:01.5 +0000 UTC");
    assert_eq!(go_time(1_435_065_584_128_000_000), "2015-06-23 13:19:44.128 +0000 UTC");
    assert_eq!(go_time(-1), "1969-12-31 23:59:59.999999999 +0000 UTC");
    assert_eq!(rfc3339_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    for days in [-719_468, -1, 0, 59, 11_016, 18_321, 2_932_896] {
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
    }
    assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    assert!(is_leap(2000) && !is_leap(1900) && is_leap(2024) && !is_leap(2023));
    assert_eq!(days_in_month(2024, 2), 29);
    assert_eq!(days_in_month(2023, 2), 28);
    assert_eq!(days_in_month(2023, 11), 30);
}
