//! Feeds arbitrary bytes to both remote-write decoders and flatteners, raw and
//! wrapped in a valid snappy block (so the protobuf decoders see them too).
//! None of them may panic. Run with `cargo fuzz run remote_write` in `proto/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nerve_proto::{decode_v1, decode_v2, flatten_v1, flatten_v2, negotiate};

/// Decompressed-size limit, small enough that huge snappy headers are refused.
const LIMIT: usize = 1 << 20;

fn run(body: &[u8]) {
    if let Ok(req) = decode_v1(body, LIMIT) {
        let _ = flatten_v1(req);
    }
    if let Ok(req) = decode_v2(body, LIMIT) {
        let _ = flatten_v2(req);
    }
}

fuzz_target!(|data: &[u8]| {
    run(data);
    if let Ok(body) = snap::raw::Encoder::new().compress_vec(data) {
        run(&body);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let (content_type, encoding) = text.split_once('\n').unwrap_or((text, ""));
        let _ = negotiate(Some(content_type), Some(encoding));
    }
});
