//! Feeds arbitrary bytes to the OTLP logs decoders (protobuf and JSON) and translates
//! whatever decodes into Loki streams. Nothing may panic.
//! Run with `cargo fuzz run otlp_logs` in `proto/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nerve_proto::{decode_logs_request, translate_logs};

fuzz_target!(|data: &[u8]| {
    for content_type in ["application/x-protobuf", "application/json"] {
        if let Ok(req) = decode_logs_request(data, Some(content_type), None, 1 << 20) {
            let _ = translate_logs(&req, 0);
        }
    }
});
