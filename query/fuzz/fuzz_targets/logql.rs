//! Feeds arbitrary text to the LogQL parser; whatever parses is evaluated (as a range query)
//! over a few fixed streams of JSON, logfmt and plain lines, so fuzz-chosen regexes,
//! templates, parsers and aggregations run too. Nothing may panic.
//! Run with `cargo fuzz run logql` in `query/`.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use nerve_query::logql::{Direction, Limits, MemSource, eval_range_expr, parse};
use nerve_storage::Labels;

const SEC: i64 = 1_000_000_000;

fn source() -> &'static MemSource {
    static SRC: OnceLock<MemSource> = OnceLock::new();
    SRC.get_or_init(|| {
        let mut src = MemSource::new();
        let lines = [
            r#"{"level":"error","msg":"boom","latency":"120ms","bytes":"2KB","trace_id":"abc"}"#,
            "level=info msg=\"all good\" duration=1.5s size=300 trace_id=0af7651916cd43dd",
            "GET /api/v1/query 200 12ms 10.0.0.1",
            "\u{1b}[31mred\u{1b}[0m plain text with ünïcödé",
        ];
        for app in ["api", "db"] {
            let labels = Labels::from_pairs([("app", app), ("env", "prod")]).expect("valid labels");
            src.push_lines(
                labels,
                lines.iter().enumerate().map(|(i, l)| (i as i64 * 7 * SEC, *l)),
            );
        }
        src
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(expr) = parse(query) else {
        return;
    };
    let limits = Limits {
        max_series: 500,
        max_entries: 100,
        deadline: Some(Instant::now() + Duration::from_millis(200)),
    };
    let _ = eval_range_expr(
        source(),
        &expr,
        0,
        60 * SEC,
        10 * SEC,
        None,
        100,
        Direction::Backward,
        &limits,
    );
});
