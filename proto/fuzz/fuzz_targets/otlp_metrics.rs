//! Feeds arbitrary bytes to the OTLP metrics decoders (protobuf and JSON) and translates
//! whatever decodes. Nothing may panic. Run with `cargo fuzz run otlp_metrics` in `proto/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nerve_proto::{OtlpEncoding, decode_and_translate};

fuzz_target!(|data: &[u8]| {
    let _ = decode_and_translate(data, OtlpEncoding::Protobuf);
    let _ = decode_and_translate(data, OtlpEncoding::Json);
});
