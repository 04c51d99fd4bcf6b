//! Loki's `discover_log_levels`: the value of the `detected_level` structured metadata that
//! Grafana uses to colour log lines and the log volume chart.
//!
//! The rules follow Loki's distributor (`pkg/distributor/field_detection.go`) with default
//! limits (`log_level_fields` unset, `log_level_from_json_max_depth` 2):
//!
//! 1. the first of [`LEVEL_FIELDS`] present among the stream labels, else among the
//!    structured metadata, normalized by [`normalize_level`];
//! 2. else OTLP's `severity_number` metadata, mapped by range (1–4 trace, 5–8 debug,
//!    9–12 info, 13–16 warn, 17–20 error, 21–24 fatal, 0 unknown; unparsable → info);
//! 3. else the line: a JSON object line's first string field named like [`LEVEL_FIELDS`]
//!    (top level and one nested level), or a logfmt line's field matching them
//!    case-insensitively (earlier names win); a value that is not a known level, or a line
//!    that is neither, falls back to a keyword scan (`info`, `[ERROR]`, `warn:`, ...).
//!
//! One difference: Loki keeps an unrecognized explicit value (e.g. `level=notice`) as is;
//! [`detect_level`] returns `&'static str` and answers `"unknown"` for those.

use super::line_fields::{json_string_fields, logfmt_pairs, looks_like_json, looks_like_logfmt};

/// The structured metadata name Loki stores the detected level under.
pub const DETECTED_LEVEL: &str = "detected_level";

/// Label, metadata and line field names that carry a level, in priority order
/// (Loki's `defaultAllowedLevelFields`).
pub const LEVEL_FIELDS: [&str; 14] = [
    "level",
    "LEVEL",
    "Level",
    "log.level",
    "severity",
    "SEVERITY",
    "Severity",
    "SeverityText",
    "lvl",
    "LVL",
    "Lvl",
    "severity_text",
    "Severity_Text",
    "SEVERITY_TEXT",
];

/// The OTLP severity number as structured metadata (see [`crate::otlp_logs`]).
const SEVERITY_NUMBER: &str = "severity_number";

/// How deep into nested JSON objects the line search goes (Loki's default).
const JSON_MAX_DEPTH: usize = 2;

const UNKNOWN: &str = "unknown";

/// The level for an entry's `detected_level`: `"trace"`, `"debug"`, `"info"`, `"warn"`,
/// `"error"`, `"critical"`, `"fatal"` or `"unknown"`. See the module docs for the rules.
pub fn detect_level(labels: &[(String, String)], metadata: &[(String, String)], line: &str) -> &'static str {
    if let Some(v) = first_level_field(labels).or_else(|| first_level_field(metadata)) {
        return normalize_level(v).unwrap_or(UNKNOWN);
    }
    if let Some((_, n)) = metadata.iter().find(|(k, v)| k == SEVERITY_NUMBER && !v.is_empty()) {
        return from_severity_number(n);
    }
    from_line(line)
}

/// A known level spelling (case-insensitive) as Loki's canonical value: `trace`/`trc`,
/// `debug`/`dbg`, `info`/`inf`/`information`, `warn`/`wrn`/`warning`, `error`/`err`,
/// `critical`, `fatal`. `None` for anything else.
pub fn normalize_level(value: &str) -> Option<&'static str> {
    const SPELLINGS: [(&str, &str); 14] = [
        ("trace", "trace"),
        ("trc", "trace"),
        ("debug", "debug"),
        ("dbg", "debug"),
        ("info", "info"),
        ("inf", "info"),
        ("information", "info"),
        ("warn", "warn"),
        ("wrn", "warn"),
        ("warning", "warn"),
        ("error", "error"),
        ("err", "error"),
        ("critical", "critical"),
        ("fatal", "fatal"),
    ];
    SPELLINGS
        .iter()
        .find(|(spelling, _)| spelling.eq_ignore_ascii_case(value))
        .map(|(_, level)| *level)
}

/// The value of the highest-priority level field present in `pairs`.
fn first_level_field(pairs: &[(String, String)]) -> Option<&str> {
    LEVEL_FIELDS
        .iter()
        .find_map(|field| pairs.iter().find(|(k, _)| k == field).map(|(_, v)| v.as_str()))
}

/// OTLP `SeverityNumber` ranges.
fn from_severity_number(text: &str) -> &'static str {
    let Ok(n) = text.trim().parse::<i64>() else {
        return "info";
    };
    match n {
        0 => UNKNOWN,
        i64::MIN..=4 => "trace",
        5..=8 => "debug",
        9..=12 => "info",
        13..=16 => "warn",
        17..=20 => "error",
        21..=24 => "fatal",
        _ => UNKNOWN,
    }
}

fn from_line(line: &str) -> &'static str {
    let value = if looks_like_json(line) {
        let wanted = |k: &str| LEVEL_FIELDS.contains(&k);
        json_string_fields(line, JSON_MAX_DEPTH, &wanted, &|found| !found.is_empty())
            .and_then(|mut fields| fields.drain(..).next())
            .map(|(_, v)| v)
    } else if looks_like_logfmt(line) {
        logfmt_level(line)
    } else {
        return from_keywords(line);
    };
    value
        .as_deref()
        .and_then(normalize_level)
        .unwrap_or_else(|| from_keywords(line))
}

/// The logfmt value whose key matches [`LEVEL_FIELDS`] case-insensitively; a key matching an
/// earlier field wins over one matching a later field.
fn logfmt_level(line: &str) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for (key, value) in logfmt_pairs(line) {
        let Some(rank) = LEVEL_FIELDS.iter().position(|f| f.eq_ignore_ascii_case(key)) else {
            continue;
        };
        if best.as_ref().is_none_or(|(r, _)| rank < *r) {
            best = Some((rank, value.into_owned()));
            if rank == 0 {
                break;
            }
        }
    }
    best.map(|(_, v)| v)
}

/// Loki's keyword scan of an unstructured line, checked in this order.
fn from_keywords(line: &str) -> &'static str {
    let any = |needles: &[&str]| needles.iter().any(|n| line.contains(n));
    if any(&["info:", "INFO:", "[info]", "[INFO]", "info", "INFO"]) {
        "info"
    } else if any(&["err:", "ERR:", "[err]", "[ERR]", "[error]", "[ERROR]"]) {
        "error"
    } else if any(&[
        "warn:",
        "WARN:",
        "[warn]",
        "[WARN]",
        "[warning]",
        "[WARNING]",
        "warning",
        "WARNING",
    ]) {
        "warn"
    } else if any(&["critical:", "CRITICAL:", "[critical]", "[CRITICAL]"]) {
        "critical"
    } else if any(&["debug:", "DEBUG:", "[debug]", "[DEBUG]", "debug", "DEBUG"]) {
        "debug"
    } else {
        UNKNOWN
    }
}
