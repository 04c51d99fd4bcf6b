//! Feeds arbitrary text to nerve's PromQL front end (promql-parser plus nerve's checks and
//! error rewriting). Nothing may panic. Run with `cargo fuzz run promql_parse` in `query/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(query) = std::str::from_utf8(data) {
        let _ = nerve_query::promql::plan::parse(query);
    }
});
