//! Unit tests of the head.

use super::*;

fn head() -> Head {
    Head::new(
        HeadOptions {
            chunk_range: 7_200_000,
            ooo_window: 0,
            max_exemplars: 4,
            max_series: 0,
            max_series_per_metric: 0,
        },
        i64::MIN,
        ChunkFiles::in_memory(),
    )
}

#[test]
fn chunk_cuts_and_samples() {
    let h = head();
    let l = Labels::from_pairs([("__name__", "a")]).unwrap();
    let (s, created) = h.get_or_create(&l, None, false).unwrap();
    assert!(created);
    let mut d = s.data.lock();
    for i in 0..300 {
        d.apply(
            Sample {
                t: i * 1000,
                v: i as f64,
            },
            0,
            7_200_000,
            &l,
            &h.chunk_files,
        )
        .unwrap();
    }
    // Two 120-sample chunks were closed and merged into one (same block range).
    assert_eq!(d.closed.len(), 1);
    assert_eq!(d.closed[0].samples, 240);
    let mut out = Vec::new();
    d.samples_in(10_000, 20_000, &mut out);
    assert_eq!(out.len(), 11);
    assert!(matches!(
        d.apply(Sample { t: 5, v: 1.0 }, 0, 7_200_000, &l, &h.chunk_files),
        Err(Error::OutOfOrder { .. })
    ));
    assert_eq!(
        d.apply(Sample { t: 299_000, v: 299.0 }, 0, 7_200_000, &l, &h.chunk_files)
            .unwrap(),
        Applied::Duplicate
    );
    assert!(matches!(
        d.apply(Sample { t: 299_000, v: 1.0 }, 0, 7_200_000, &l, &h.chunk_files),
        Err(Error::Duplicate { .. })
    ));
}

#[test]
fn sealed_chunks_merge_within_a_block_range_up_to_the_cap() {
    let h = head();
    let l = Labels::from_pairs([("__name__", "m")]).unwrap();
    let (s, _) = h.get_or_create(&l, None, false).unwrap();
    let mut d = s.data.lock();
    let range = 7_200_000;
    // 1 s apart: 2 h hold 7200 samples; the cap splits them, the boundary too.
    let n: i64 = 7_200 + 600;
    for i in 0..n {
        d.apply(
            Sample {
                t: i * 1000,
                v: (i % 7) as f64,
            },
            0,
            range,
            &l,
            &h.chunk_files,
        )
        .unwrap();
    }
    let sizes: Vec<u32> = d.closed.iter().map(|c| c.samples).collect();
    assert!(sizes.iter().all(|&k| k as usize <= MAX_SEALED_SAMPLES), "{sizes:?}");
    assert!(
        d.closed
            .iter()
            .all(|c| c.mint.div_euclid(range) == c.maxt.div_euclid(range))
    );
    assert_eq!(
        sizes.iter().sum::<u32>() as usize + d.open.as_ref().map_or(0, |c| c.num_samples()),
        n as usize
    );
    assert!(sizes.len() < 20, "merged: {sizes:?}");
    let mut out = Vec::new();
    d.samples_in(i64::MIN, i64::MAX, &mut out);
    assert_eq!(out.len(), n as usize);
    assert!(
        out.iter()
            .enumerate()
            .all(|(i, x)| x.t == i as i64 * 1000 && x.v == (i % 7) as f64)
    );
}

#[test]
fn ooo_window_merges() {
    let l = Labels::from_pairs([("__name__", "a")]).unwrap();
    let mut d = SeriesData::new();
    let files = ChunkFiles::in_memory();
    for t in [10, 30, 20, 25] {
        d.apply(Sample { t, v: t as f64 }, 15, 1000, &l, &files).unwrap();
    }
    assert!(d.apply(Sample { t: 1, v: 0.0 }, 15, 1000, &l, &files).is_err());
    let mut out = Vec::new();
    d.samples_in(0, 100, &mut out);
    assert_eq!(out.iter().map(|s| s.t).collect::<Vec<_>>(), vec![10, 20, 25, 30]);
}

#[test]
fn truncate_gc() {
    let h = head();
    let a = Labels::from_pairs([("__name__", "a")]).unwrap();
    let b = Labels::from_pairs([("__name__", "b")]).unwrap();
    for (l, t) in [(&a, 1000), (&b, 8_000_000)] {
        let (s, _) = h.get_or_create(l, None, false).unwrap();
        s.data
            .lock()
            .apply(Sample { t, v: 1.0 }, 0, 7_200_000, l, &h.chunk_files)
            .unwrap();
    }
    assert_eq!(h.truncate(7_200_000), 1);
    assert_eq!(h.num_series(), 1);
    assert_eq!(h.select_ids(&[Matcher::equal("__name__", "a")]).unwrap().len(), 0);
    assert_eq!(h.select_ids(&[Matcher::equal("__name__", "b")]).unwrap().len(), 1);
}

#[test]
fn file_backed_chunks_read_back_like_memory() {
    let dir = tempfile::tempdir().unwrap();
    let files = ChunkFiles::open(&dir.path().join("chunks_head"), 4096).unwrap();
    let mem = ChunkFiles::in_memory();
    let l = Labels::from_pairs([("__name__", "m")]).unwrap();
    let (mut a, mut b) = (SeriesData::new(), SeriesData::new());
    let range = 7_200_000;
    let n: i64 = 5_000;
    for i in 0..n {
        let v = match i % 97 {
            0 => f64::from_bits(crate::metrics::STALE_NAN_BITS),
            k => (i * i % 1013) as f64 / 100.0 + k as f64,
        };
        let s = Sample { t: i * 15_000, v };
        a.apply(s, 0, range, &l, &files).unwrap();
        b.apply(s, 0, range, &l, &mem).unwrap();
    }
    assert!(a.closed.len() > 3, "{}", a.closed.len());
    assert!(a.closed.iter().all(|c| !c.bytes.in_memory()));
    assert!(b.closed.iter().all(|c| c.bytes.in_memory()));
    assert!(files.bytes_written() > 0);
    let bits = |d: &SeriesData, mint: i64, maxt: i64| {
        let mut out = Vec::new();
        d.samples_in(mint, maxt, &mut out);
        out.iter().map(|s| (s.t, s.v.to_bits())).collect::<Vec<_>>()
    };
    assert_eq!(bits(&a, i64::MIN, i64::MAX).len(), n as usize);
    for (lo, hi) in [
        (i64::MIN, i64::MAX),
        (0, range - 1),
        (range, 2 * range + 7),
        (1_000_000, 50_000_000),
    ] {
        assert_eq!(bits(&a, lo, hi), bits(&b, lo, hi), "[{lo}, {hi}]");
    }
    // Dropping the chunks drops the last references to their (unlinked) segment files.
    assert!(a.truncate_before(i64::MAX));
    assert_eq!(std::fs::read_dir(dir.path().join("chunks_head")).unwrap().count(), 0);
}
