//! XorIter and XorChunk::from_bytes over arbitrary bytes: never panic, never loop, and a chunk
//! that validates accepts further appends without disturbing what it held.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nerve_storage::metrics::chunk::{XorChunk, XorIter};

fuzz_target!(|data: &[u8]| {
    let mut it = XorIter::new(data);
    let mut n = 0;
    for _ in it.by_ref() {
        n += 1;
    }
    assert!(n <= it.num_samples());
    assert!(n == it.num_samples() || it.err().is_some());

    // Seek returns a sample at or after its target, or nothing.
    it.reset(data);
    for t in [i64::MIN, -1, 0, 1 << 40, i64::MAX] {
        if let Some(s) = it.seek(t) {
            assert!(s.t >= t);
        }
    }

    if let Ok(mut chunk) = XorChunk::from_bytes(data.to_vec()) {
        let before: Vec<_> = chunk.iter().map(|s| (s.t, s.v.to_bits())).collect();
        let t = chunk.max_time().map_or(0, |t| t.wrapping_add(1));
        chunk.append(t, f64::from_bits(0x7ff0_0000_0000_0002));
        let after: Vec<_> = chunk.iter().map(|s| (s.t, s.v.to_bits())).collect();
        assert_eq!(&after[..before.len()], &before[..]);
        assert_eq!(after.len(), before.len() + 1);
        assert_eq!(after[before.len()], (t, 0x7ff0_0000_0000_0002));
    }
});
