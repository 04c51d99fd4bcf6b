//! Any bytes through both exposition parsers: entries or an error, never a panic.
//! Run with `cargo fuzz run exposition` in `proto/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nerve_proto::exposition::{Entry, Format, Parser};

fuzz_target!(|data: &[u8]| {
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        let Ok(mut p) = Parser::new(data, format) else { continue };
        let mut lines = 0usize;
        while let Ok(Some(e)) = p.next_entry() {
            if let Entry::Sample(s) = e {
                // The series text is the name plus its label set, as written.
                assert!(s.series.starts_with(s.name));
            }
            lines += 1;
            assert!(lines <= data.len() + 1);
        }
    }
});
