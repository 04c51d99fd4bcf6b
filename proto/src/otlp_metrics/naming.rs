//! How OTLP metric names, units and attribute keys become Prometheus names.
//!
//! The rules are the ones Prometheus' OTLP receiver applies with its default translation
//! strategy (underscore escaping, with suffixes), as described by the OpenTelemetry
//! "Prometheus and OpenMetrics compatibility" specification:
//!
//! * the metric name is split into words at every character outside `[a-zA-Z0-9:]`
//!   (underscores included, so runs of separators collapse to one `_`);
//! * the unit's main part (`s` → `seconds`, `By` → `bytes`, …) is appended unless that
//!   word is already in the name, and its per part (`/s` → `per_second`) likewise; units in
//!   braces (`{request}`) and the dimensionless `1` add nothing;
//! * monotonic sums end in `total`, gauges with unit `1` end in `ratio` (each moved to the
//!   end if it already appears elsewhere);
//! * a name starting with a digit gets a `_` prefix.
//!
//! Attribute keys become label names by replacing every character outside
//! `[a-zA-Z0-9_]` with `_`, then prefixing `key_` when the result starts with a digit and
//! `key` when it starts with a single `_`.

/// The OTLP instrument shapes that change a metric's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A monotonic sum: gets the `_total` suffix.
    Counter,
    /// A gauge (or a non-monotonic sum, which Prometheus treats as a gauge): unit `1`
    /// gives `_ratio`.
    Gauge,
    /// A gauge that is really a non-monotonic sum: no `_ratio` suffix (Prometheus adds it
    /// to OTLP gauges only).
    UpDownSum,
    /// Histograms and summaries: only the unit suffix; `_bucket`/`_sum`/`_count` come later.
    Distribution,
}

/// The Prometheus metric name for an OTLP metric `name` with unit `unit`.
pub fn metric_name(name: &str, unit: &str, kind: NameKind) -> String {
    let mut words: Vec<&str> = name
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .filter(|w| !w.is_empty())
        .collect();
    let (main, per) = unit_words(unit);
    if let Some(main) = &main
        && !words.contains(&main.as_str())
    {
        words.push(main);
    }
    if let Some(per) = &per
        && !words.contains(&per.as_str())
    {
        words.push("per");
        words.push(per);
    }
    match kind {
        NameKind::Counter => {
            words.retain(|w| *w != "total");
            words.push("total");
        }
        NameKind::Gauge if unit == "1" => {
            words.retain(|w| *w != "ratio");
            words.push("ratio");
        }
        _ => {}
    }
    let joined = words.join("_");
    if joined.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{joined}")
    } else {
        joined
    }
}

/// The Prometheus unit (as stored in metadata) for an OTLP unit: the main part translated,
/// e.g. `ms` → `milliseconds`, `By/s` → `bytes_per_second`; "" when there is none.
pub fn prometheus_unit(unit: &str) -> String {
    match unit_words(unit) {
        (Some(m), Some(p)) => format!("{m}_per_{p}"),
        (Some(m), None) => m,
        (None, Some(p)) => format!("per_{p}"),
        (None, None) => String::new(),
    }
}

/// The main and per words of a unit like `By/s`, cleaned to `[a-zA-Z0-9_]`.
fn unit_words(unit: &str) -> (Option<String>, Option<String>) {
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m.trim(), Some(p.trim())),
        None => (unit.trim(), None),
    };
    let main = if main.contains(['{', '}']) {
        None
    } else {
        clean_unit(main_unit(main))
    };
    let per = per.and_then(|p| {
        if p.contains(['{', '}']) {
            None
        } else {
            clean_unit(per_unit(p))
        }
    });
    (main, per)
}

/// UCUM code → Prometheus word for the main part of a unit; unknown codes pass through.
fn main_unit(u: &str) -> &str {
    match u {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tebibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        other => other,
    }
}

/// UCUM code → Prometheus word for the part of a unit after `/`.
fn per_unit(u: &str) -> &str {
    match u {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    }
}

/// Replaces runs of characters outside `[a-zA-Z0-9]` with `_` and trims `_` at the ends;
/// `None` when nothing is left.
fn clean_unit(u: &str) -> Option<String> {
    let cleaned = u
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    (!cleaned.is_empty()).then_some(cleaned)
}

/// The Prometheus label name for an OTLP attribute key ("" stays "": callers drop it).
pub fn label_name(key: &str) -> String {
    if key.is_empty() {
        return String::new();
    }
    let sanitized: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if sanitized.starts_with(|c: char| c.is_ascii_digit()) {
        format!("key_{sanitized}")
    } else if sanitized.starts_with('_') && !sanitized.starts_with("__") {
        format!("key{sanitized}")
    } else {
        sanitized
    }
}

/// Formats a bucket bound or quantile the way Prometheus' OTLP translator does (shortest
/// decimal without exponent; `+Inf`, `-Inf`, `NaN`).
pub fn format_float(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else if v.is_nan() {
        "NaN".to_owned()
    } else {
        format!("{v}")
    }
}
