//! Feeds arbitrary text to nerve's PromQL front end (the size and nesting pre-scan,
//! promql-parser, nerve's checks and error rewriting). Nothing may escape as a panic or
//! overflow the stack. Run with `cargo fuzz run promql_parse` in
//! `query/`.
//!
//! nerve deliberately catches panics raised inside promql-parser (a third-party parser that
//! panics on e.g. huge durations) and answers a parse error, so this target replaces
//! libfuzzer-sys's abort-on-any-panic hook with a quiet one: a panic that nerve catches is
//! fine, and one that escapes `parse` still aborts the process (it cannot unwind out of the
//! fuzzer's `extern "C"` entry point), which libFuzzer reports as a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        std::panic::set_hook(Box::new(|_| {}));
    },
    |data: &[u8]| {
        if let Ok(query) = std::str::from_utf8(data) {
            let _ = nerve_query::promql::plan::parse(query);
        }
    }
);
