//! Feeds arbitrary text to nerve's `/api/v1/format_query` entry point
//! ([`nerve_query::promql::plan::format_query`]: the size and nesting pre-scan, parsing, then
//! promql-parser's recursive `prettify`) and to the `match[]` selector parser. Nothing may
//! escape as a panic or overflow the stack. Run with `cargo fuzz run format_query` in `query/`.
//!
//! As in `promql_parse`, panics nerve catches inside promql-parser are silenced; one escaping
//! these entry points still aborts the process, which libFuzzer reports as a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        std::panic::set_hook(Box::new(|_| {}));
    },
    |data: &[u8]| {
        if let Ok(query) = std::str::from_utf8(data) {
            let _ = nerve_query::promql::plan::format_query(query);
            let _ = nerve_query::selector::parse_selector(query);
        }
    }
);
