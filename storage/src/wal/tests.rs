use super::segment::{self, CHECKPOINT_PREFIX};
use super::*;
use proptest::prelude::*;
use std::fs;

fn opts(segment_size: u64) -> WalOptions {
    WalOptions {
        segment_size,
        sync: SyncPolicy::Never,
    }
}

fn replay_all(dir: &Path) -> (Vec<Vec<u8>>, ReplayReport) {
    let mut got = Vec::new();
    let report = replay(dir, |r| {
        got.push(r.to_vec());
        Ok(())
    })
    .unwrap();
    (got, report)
}

fn records(n: usize, len: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| (0..len + i % 7).map(|j| (i * 31 + j) as u8).collect())
        .collect()
}

fn log_each(wal: &Wal, recs: &[Vec<u8>]) {
    for r in recs {
        wal.log(&[r]).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn batches_round_trip(
        batches in prop::collection::vec(prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..12), 0..20),
        segment_size in 64u64..2048,
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let wal = Wal::open(tmp.path(), opts(segment_size)).unwrap();
        for b in &batches {
            let refs: Vec<&[u8]> = b.iter().map(|r| r.as_slice()).collect();
            wal.log(&refs).unwrap();
        }
        wal.close().unwrap();
        let want: Vec<Vec<u8>> = batches.concat();
        let (got, report) = replay_all(tmp.path());
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(report.truncated, None);
        // No segment overflows unless it holds a single record.
        for n in segment::numbered_files(tmp.path()).unwrap() {
            let p = segment::path(tmp.path(), n);
            let len = fs::metadata(&p).unwrap().len();
            let mut count = 0;
            replay_one(&p, &mut count);
            prop_assert!(len <= segment_size || count == 1, "segment {n}: {len} bytes, {count} records");
        }
    }

    #[test]
    fn flipped_byte_skips_only_its_record(idx in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wal");
        let recs = records(20, 40);
        let wal = Wal::open(&dir, opts(1 << 20)).unwrap();
        log_each(&wal, &recs);
        wal.close().unwrap();
        let p = segment::path(&dir, 0);
        let mut bytes = fs::read(&p).unwrap();
        let i = idx.index(bytes.len());
        bytes[i] ^= flip;
        fs::write(&p, &bytes).unwrap();
        // Which record holds byte i?
        let mut start = 0usize;
        let mut hit = 0usize;
        for (k, r) in recs.iter().enumerate() {
            let end = start + RECORD_HEADER_LEN as usize + r.len();
            if i < end {
                hit = k;
                break;
            }
            start = end;
        }
        let (got, report) = replay_all(&dir);
        let mut want = recs.clone();
        want.remove(hit);
        prop_assert_eq!(&got, &want);
        if hit == recs.len() - 1 {
            // The last record of the last segment: a torn tail, cut off as before.
            prop_assert_eq!(report.truncated, Some((p.clone(), start as u64)));
            prop_assert_eq!(report.skipped_records, 0);
            prop_assert!(report.quarantined.is_empty());
        } else {
            prop_assert_eq!(report.truncated, None);
            // Estimated from length fields, which the flip may have hit.
            prop_assert!((1..=2).contains(&report.skipped_records));
            prop_assert_eq!(report.skipped_bytes, RECORD_HEADER_LEN + recs[hit].len() as u64);
            prop_assert_eq!(report.quarantined.len(), 1);
            prop_assert_eq!(fs::read(&report.quarantined[0]).unwrap(), bytes);
        }
        // The file was repaired: a second replay reads the same records and finds no damage.
        let (again, report) = replay_all(&dir);
        prop_assert_eq!(&again, &want);
        prop_assert_eq!(report.skipped_records + report.truncated.iter().count() as u64, 0);
    }
}

fn replay_one(p: &Path, count: &mut usize) {
    let mut r = segment::RecordReader::open(p).unwrap();
    while let segment::Next::Record = r.next().unwrap() {
        *count += 1;
    }
}

#[test]
fn torn_tail_at_every_offset_keeps_earlier_records() {
    let recs = records(5, 30);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let wal = Wal::open(&dir, opts(1 << 20)).unwrap();
    log_each(&wal, &recs);
    wal.close().unwrap();
    let p = segment::path(&dir, 0);
    let full = fs::read(&p).unwrap();
    let last_start = full.len() - (RECORD_HEADER_LEN as usize + recs[4].len());
    for cut in last_start + 1..full.len() {
        fs::write(&p, &full[..cut]).unwrap();
        let (got, report) = replay_all(&dir);
        assert_eq!(got, recs[..4], "cut at {cut}");
        assert_eq!(report.truncated, Some((p.clone(), last_start as u64)));
        assert!(report.quarantined.is_empty() && report.skipped_bytes == 0);
        assert_eq!(fs::metadata(&p).unwrap().len(), last_start as u64);
    }
    // The repaired log accepts appends and replays them after the old records.
    let wal = Wal::open(&dir, opts(1 << 20)).unwrap();
    wal.log(&[b"after"]).unwrap();
    let (got, _) = replay_all(&dir);
    assert_eq!(got.len(), 5);
    assert_eq!(got[4], b"after");
}

#[test]
fn torn_end_of_an_older_segment_is_damage_and_later_segments_replay() {
    let recs = records(5, 30);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let wal = Wal::open(&dir, opts(1 << 20)).unwrap();
    log_each(&wal, &recs);
    wal.close().unwrap();
    let p = segment::path(&dir, 0);
    let full = fs::read(&p).unwrap();
    let last_start = full.len() - (RECORD_HEADER_LEN as usize + recs[4].len());
    let cut = last_start + 11;
    fs::write(&p, &full[..cut]).unwrap();
    // A later, valid segment written after the torn one.
    fs::write(segment::path(&dir, 1), &full[..last_start]).unwrap();
    let (got, report) = replay_all(&dir);
    assert_eq!(got, [&recs[..4], &recs[..4]].concat());
    assert_eq!(report.truncated, None);
    assert_eq!((report.skipped_records, report.skipped_bytes), (1, 11));
    assert_eq!(report.quarantined.len(), 1);
    assert_eq!(fs::read(&report.quarantined[0]).unwrap(), &full[..cut]);
    assert!(report.quarantined[0].starts_with(tmp.path().join(crate::quarantine::DIR)));
    assert_eq!(fs::metadata(&p).unwrap().len(), last_start as u64);
    assert!(segment::path(&dir, 1).exists());
}

#[test]
fn damage_in_a_middle_segment_resynchronises_and_keeps_later_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let wal = Wal::open(&dir, opts(400)).unwrap();
    let recs = records(40, 40); // several records per segment, several segments
    log_each(&wal, &recs);
    wal.close().unwrap();
    let segs = segment::numbered_files(&dir).unwrap();
    assert!(segs.len() >= 4, "{segs:?}");
    // Which records are in segment 1?
    let mut before = 0;
    replay_one(&segment::path(&dir, 0), &mut before);
    let mut in_one = 0;
    replay_one(&segment::path(&dir, 1), &mut in_one);
    assert!(in_one >= 4);
    // Overwrite 60 bytes starting inside the second record of segment 1: it and the third are
    // damaged (their frames are 48..54 bytes), the rest of the segment is intact.
    let p = segment::path(&dir, 1);
    let mut bytes = fs::read(&p).unwrap();
    let second = RECORD_HEADER_LEN as usize + recs[before].len();
    let third = second + RECORD_HEADER_LEN as usize + recs[before + 1].len();
    let fourth = third + RECORD_HEADER_LEN as usize + recs[before + 2].len();
    let from = second + 5;
    assert!(from + 60 > third && from + 60 < fourth);
    bytes[from..from + 60].fill(0xA5);
    fs::write(&p, &bytes).unwrap();
    let (got, report) = replay_all(&dir);
    let mut want = recs.clone();
    want.drain(before + 1..before + 3);
    assert_eq!(got, want);
    assert_eq!(report.skipped_records, 2);
    assert_eq!(report.skipped_bytes, (fourth - second) as u64);
    assert_eq!(report.truncated, None);
    assert_eq!(report.quarantined.len(), 1);
    let name = report.quarantined[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.starts_with("00000001-"), "{name}");
    // Repaired in place: a new replay finds no damage, and appends go on after it.
    let (again, report) = replay_all(&dir);
    assert_eq!(again, want);
    assert!(report.quarantined.is_empty());
    let wal = Wal::open(&dir, opts(400)).unwrap();
    wal.log(&[b"after"]).unwrap();
    wal.close().unwrap();
    let (got, _) = replay_all(&dir);
    assert_eq!(got.last().map(Vec::as_slice), Some(b"after".as_slice()));
}

#[test]
fn damaged_checkpoint_record_is_skipped_and_leftover_repair_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let wal = Wal::open(&dir, opts(256)).unwrap();
    let recs = records(30, 20);
    log_each(&wal, &recs);
    let (_, last) = wal.segment_range();
    wal.checkpoint(last - 1, |r| Some(r.to_vec())).unwrap();
    wal.close().unwrap();
    let (all, _) = replay_all(&dir);
    assert_eq!(all, recs);
    let cp = segment::path(&segment::checkpoint_dir(&dir, last - 1), 0);
    let mut bytes = fs::read(&cp).unwrap();
    let frame = RECORD_HEADER_LEN as usize + recs[0].len();
    bytes[frame + 10] ^= 0xFF; // inside the payload of the second record
    fs::write(&cp, &bytes).unwrap();
    fs::write(dir.join("00000001.repair"), b"half-written").unwrap();
    let (got, report) = replay_all(&dir);
    let mut want = recs.clone();
    want.remove(1);
    assert_eq!(got, want);
    assert_eq!((report.skipped_records, report.quarantined.len()), (1, 1));
    assert!(!dir.join("00000001.repair").exists());
    let name = report.quarantined[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with(&format!("checkpoint.{:08}.00000000-", last - 1)),
        "{name}"
    );
}

#[test]
fn zero_filled_tail_is_torn() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), opts(1 << 20)).unwrap();
    wal.log(&[b"a", b""]).unwrap();
    wal.close().unwrap();
    let p = segment::path(tmp.path(), 0);
    let mut bytes = fs::read(&p).unwrap();
    let len = bytes.len() as u64;
    bytes.extend_from_slice(&[0; 4096]);
    fs::write(&p, bytes).unwrap();
    let (got, report) = replay_all(tmp.path());
    assert_eq!(got, vec![b"a".to_vec(), Vec::new()]);
    assert_eq!(report.truncated, Some((p, len)));
}

#[test]
fn segments_are_cut_and_numbered() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), opts(100)).unwrap();
    assert_eq!(wal.segment_range(), (0, 0));
    wal.log(&[&[1; 50]]).unwrap();
    wal.log(&[&[2; 50]]).unwrap(); // does not fit: segment 1
    assert_eq!(wal.segment_range(), (0, 1));
    wal.log(&[&[3; 500]]).unwrap(); // larger than a segment: alone in segment 2
    wal.log(&[&[4; 10], &[5; 10]]).unwrap(); // segment 3
    assert_eq!(wal.segment_range(), (0, 3));
    assert_eq!(wal.cut_segment().unwrap(), 4);
    assert_eq!(wal.size_bytes(), 4 * 8 + 50 + 50 + 500 + 10 + 10 + 8);
    wal.close().unwrap();
    assert!(matches!(wal.log(&[b"x"]), Err(Error::Closed)));
    let (got, report) = replay_all(tmp.path());
    assert_eq!(got.len(), 5);
    assert_eq!(report.segments, 5);
    // Reopening continues after the last segment.
    let wal = Wal::open(tmp.path(), opts(100)).unwrap();
    assert_eq!(wal.segment_range(), (0, 5));
}

#[test]
fn checkpoint_keeps_filtered_records() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(
        tmp.path(),
        WalOptions {
            segment_size: 256,
            sync: SyncPolicy::Always,
        },
    )
    .unwrap();
    let recs = records(60, 20);
    log_each(&wal, &recs);
    let (_, last) = wal.segment_range();
    let upto = last / 2;
    // Which records live in segments <= upto?
    let mut covered = 0;
    for n in 0..=upto {
        replay_one(&segment::path(tmp.path(), n), &mut covered);
    }
    let keep = |r: &[u8]| r[0].is_multiple_of(2).then(|| [b"kept:".as_slice(), r].concat());
    let stats = wal.checkpoint(upto, keep).unwrap();
    assert_eq!(stats.records_read, covered as u64);
    assert_eq!(stats.segments_deleted, upto + 1);
    assert_eq!(wal.segment_range(), (upto + 1, last));
    let mut want: Vec<Vec<u8>> = recs[..covered].iter().filter_map(|r| keep(r)).collect();
    want.extend_from_slice(&recs[covered..]);
    let (got, report) = replay_all(tmp.path());
    assert_eq!(got, want);
    assert_eq!(report.checkpoint, Some(upto));

    // A second checkpoint folds the first one in; invalid ranges are refused.
    assert!(wal.checkpoint(upto, |r| Some(r.to_vec())).is_err());
    assert!(wal.checkpoint(last, |r| Some(r.to_vec())).is_err());
    wal.checkpoint(last - 1, |r| Some(r.to_vec())).unwrap();
    let (got2, _) = replay_all(tmp.path());
    assert_eq!(got2, want);
    let names: Vec<String> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.iter().filter(|n| n.starts_with(CHECKPOINT_PREFIX)).count(), 1);
}

#[test]
fn interrupted_checkpoint_is_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), opts(64)).unwrap();
    let recs = records(10, 30);
    log_each(&wal, &recs);
    wal.close().unwrap();
    // Crash while writing checkpoint 3: a half-written tmp directory.
    let tmp_ckpt = tmp.path().join("checkpoint.00000003.tmp");
    fs::create_dir(&tmp_ckpt).unwrap();
    fs::write(segment::path(&tmp_ckpt, 0), b"garbage").unwrap();
    let (got, _) = replay_all(tmp.path());
    assert_eq!(got, recs);
    assert!(!tmp_ckpt.exists());

    // Crash after the rename but before segment deletion: old segments are superseded.
    let wal = Wal::open(tmp.path(), opts(64)).unwrap();
    let ckpt = segment::checkpoint_dir(tmp.path(), 2);
    fs::create_dir(&ckpt).unwrap();
    let mut buf = Vec::new();
    segment::frame(b"state", &mut buf);
    fs::write(segment::path(&ckpt, 0), buf).unwrap();
    wal.close().unwrap();
    let (got, report) = replay_all(tmp.path());
    assert_eq!(report.checkpoint, Some(2));
    assert_eq!(got[0], b"state");
    assert_eq!(&got[1..], &recs[3..]);
    assert!(!segment::path(tmp.path(), 2).exists());
}

#[test]
fn gap_in_segments_is_reported_and_later_segments_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), opts(64)).unwrap();
    let recs = records(6, 40); // one record per segment
    log_each(&wal, &recs);
    wal.close().unwrap();
    fs::remove_file(segment::path(tmp.path(), 2)).unwrap();
    let (got, report) = replay_all(tmp.path());
    let mut want = recs.clone();
    want.remove(2);
    assert_eq!(got, want);
    assert_eq!(report.missing_segments, 1);
    assert_eq!(report.truncated, None);
    assert_eq!(segment::numbered_files(tmp.path()).unwrap(), vec![0, 1, 3, 4, 5]);
}

#[test]
fn callback_errors_propagate_and_missing_dir_is_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let (got, report) = replay_all(&tmp.path().join("nope"));
    assert!(got.is_empty() && report == ReplayReport::default());
    let wal = Wal::open(tmp.path(), opts(1 << 20)).unwrap();
    wal.log(&[b"x"]).unwrap();
    let res = replay(tmp.path(), |_| Err(Error::InvalidInput("stop".into())));
    assert!(matches!(res, Err(Error::InvalidInput(_))));
}

#[test]
fn concurrent_appends_keep_per_thread_order() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = Wal::open(tmp.path(), opts(4096)).unwrap();
    std::thread::scope(|s| {
        for t in 0u8..4 {
            let wal = &wal;
            s.spawn(move || {
                for i in 0u8..100 {
                    wal.log(&[&[t, i], &[t, i, 0]]).unwrap();
                }
                wal.sync().unwrap();
            });
        }
    });
    wal.close().unwrap();
    let (got, _) = replay_all(tmp.path());
    assert_eq!(got.len(), 800);
    for t in 0u8..4 {
        let mine: Vec<_> = got.iter().filter(|r| r[0] == t).collect();
        for (j, r) in mine.iter().enumerate() {
            assert_eq!(r[1], (j / 2) as u8);
            assert_eq!(r.len(), 2 + j % 2);
        }
    }
}
