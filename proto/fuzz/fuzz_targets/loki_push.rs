//! Feeds arbitrary bytes to the Loki push decoder. The first byte picks the content type
//! (bit 0: JSON or protobuf) and the content encoding (bits 1-3); the rest is the body.
//! Whatever decodes is enriched and searched for trace ids. Nothing may panic.
//! Run with `cargo fuzz run loki_push` in `proto/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nerve_proto::decode_push;

const ENCODINGS: [Option<&str>; 5] = [None, Some("gzip"), Some("deflate"), Some("zstd"), Some("snappy")];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = if selector & 1 == 1 { Some("application/json") } else { None };
    let encoding = ENCODINGS[usize::from(selector >> 1) % ENCODINGS.len()];
    if let Ok(mut req) = decode_push(body, content_type, encoding, 1 << 20) {
        req.enrich();
        for entry in req.streams.iter().flat_map(|s| &s.entries) {
            let _ = entry.trace_id();
            let _ = entry.span_id();
        }
    }
});
