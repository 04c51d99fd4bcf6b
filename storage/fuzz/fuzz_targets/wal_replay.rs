//! WAL replay over an arbitrary segment file: never fails or panics on bad bytes (a bad tail is
//! truncated), and a second replay of the repaired log reads the same records cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nerve_storage::wal;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    if std::fs::write(dir.path().join("00000000"), data).is_err() {
        return;
    }
    let mut first = Vec::new();
    let report = wal::replay(dir.path(), |r| {
        first.push(r.to_vec());
        Ok(())
    })
    .expect("replay must repair, not fail");
    let mut second = Vec::new();
    let again = wal::replay(dir.path(), |r| {
        second.push(r.to_vec());
        Ok(())
    })
    .expect("replay of a repaired log");
    assert_eq!(first, second);
    assert_eq!(again.truncated, None);
    assert_eq!(report.records, first.len() as u64);
});
