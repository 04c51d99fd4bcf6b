//! block_chunk::decode over arbitrary bytes: never panics; whatever decodes re-encodes to the
//! same samples bit for bit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nerve_storage::metrics::block_chunk;

fuzz_target!(|data: &[u8]| {
    let mut samples = Vec::new();
    if block_chunk::decode(data, &mut samples).is_err() {
        return;
    }
    let mut encoded = b"prefix".to_vec();
    block_chunk::encode(&samples, &mut encoded);
    assert_eq!(&encoded[..6], b"prefix");
    let mut again = Vec::new();
    block_chunk::decode(&encoded[6..], &mut again).expect("re-encoded block chunk must decode");
    assert_eq!(again.len(), samples.len());
    for (a, b) in again.iter().zip(&samples) {
        assert_eq!((a.t, a.v.to_bits()), (b.t, b.v.to_bits()));
    }
});
