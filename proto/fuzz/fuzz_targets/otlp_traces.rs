//! Feeds arbitrary bytes to the OTLP trace request decoders (protobuf and JSON, plain and
//! gzip-declared) and re-encodes whatever decodes. Nothing may panic.
//! Run with `cargo fuzz run otlp_traces` in `proto/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nerve_proto::OtlpEncoding;
use nerve_proto::otlp::decode_request;
use nerve_proto::otlp_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

fuzz_target!(|data: &[u8]| {
    for (content_type, encoding) in [
        ("application/x-protobuf", OtlpEncoding::Protobuf),
        ("application/json", OtlpEncoding::Json),
    ] {
        for content_encoding in [None, Some("gzip")] {
            if let Ok(req) = decode_request::<ExportTraceServiceRequest>(data, Some(content_type), content_encoding, 1 << 20) {
                let _ = encoding.encode(&req);
            }
        }
    }
});
