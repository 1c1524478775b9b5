//! Tests of the spool: bounds, order, recovery after a restart (several segments, a torn
//! tail, the acknowledged position).

use super::*;

fn rec(i: u32) -> Vec<u8> {
    format!("record-{i:05}").into_bytes()
}

fn drain(s: &mut Spool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some((seq, r)) = s.take().unwrap() {
        s.ack(seq).unwrap();
        out.push(r);
    }
    out
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "spool"))
        .collect();
    v.sort();
    v
}

#[test]
fn first_in_first_out_bounded_with_drops_counted_and_files_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, r) = Spool::open(dir.path(), 180).unwrap();
    assert_eq!(r, Recovery::default());
    let mut dropped = 0;
    for i in 0..30u8 {
        dropped += s.push(&[i; 10]).unwrap();
    }
    assert_eq!(dropped, 20, "room for 10 frames of 18 bytes");
    assert_eq!(s.len(), 10);
    let got: Vec<u8> = drain(&mut s).iter().map(|r| r[0]).collect();
    assert_eq!(
        got,
        (20..30).collect::<Vec<u8>>(),
        "the newest kept, in order"
    );
    assert!(segments(dir.path()).len() <= 1, "done segments deleted");
    assert_eq!(
        s.push(&[0; 200]).unwrap(),
        1,
        "a record larger than the spool is dropped"
    );
}

#[test]
fn unacknowledged_records_survive_a_restart_in_order_and_acknowledged_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut s, _) = Spool::open(dir.path(), 1 << 20).unwrap();
        for i in 0..100 {
            s.push(&rec(i)).unwrap();
        }
        // 40 handed over: 0..30 acknowledged, 30..40 in flight at the "crash".
        let taken: Vec<u64> = (0..40).map(|_| s.take().unwrap().unwrap().0).collect();
        for seq in &taken[..30] {
            s.ack(*seq).unwrap();
        }
        assert_eq!((s.len(), s.in_flight()), (60, 10));
    } // dropped without any shutdown step, like kill -9
    let (mut s, r) = Spool::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(r.records, 70, "in flight and never handed over: sent again");
    assert!(r.torn.is_empty());
    assert!(s.is_recovered(30) && !s.is_recovered(100));
    s.push(&rec(100)).unwrap();
    let got = drain(&mut s);
    assert_eq!(
        got,
        (30..101).map(rec).collect::<Vec<_>>(),
        "once each, in order"
    );
    drop(s);
    let (mut s, r) = Spool::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(r.records, 0, "everything acknowledged");
    assert!(drain(&mut s).is_empty());
}

#[test]
fn several_segments_are_recovered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let big = vec![7u8; 5 << 20];
    {
        let (mut s, _) = Spool::open(dir.path(), 1 << 30).unwrap();
        for i in 0..8 {
            s.push(&rec(i)).unwrap();
            s.push(&big).unwrap();
        }
    }
    assert!(
        segments(dir.path()).len() >= 3,
        "{:?}",
        segments(dir.path())
    );
    let (mut s, r) = Spool::open(dir.path(), 1 << 30).unwrap();
    assert_eq!(r.records, 16);
    let got = drain(&mut s);
    let want: Vec<Vec<u8>> = (0..8).flat_map(|i| [rec(i), big.clone()]).collect();
    assert!(got == want, "records out of order across segments");
    assert!(segments(dir.path()).len() <= 1);
}

#[test]
fn a_torn_tail_is_cut_off_and_logged_never_delivered() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut s, _) = Spool::open(dir.path(), 1 << 20).unwrap();
        for i in 0..10 {
            s.push(&rec(i)).unwrap();
        }
    }
    let seg = segments(dir.path()).pop().unwrap();
    let full = std::fs::metadata(&seg).unwrap().len();
    let frame = full / 10;
    // A write interrupted half-way through the last frame.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(full - frame / 2)
        .unwrap();
    let (mut s, r) = Spool::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(r.records, 9);
    assert_eq!(r.torn, vec![(seg.clone(), 9 * frame, frame - frame / 2)]);
    assert_eq!(
        std::fs::metadata(&seg).unwrap().len(),
        9 * frame,
        "cut on disk"
    );
    s.push(&rec(10)).unwrap();
    let got = drain(&mut s);
    let want: Vec<Vec<u8>> = (0..9).chain([10]).map(rec).collect();
    assert_eq!(got, want);
}

#[test]
fn a_corrupted_record_fails_its_checksum_and_the_rest_of_the_segment_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut s, _) = Spool::open(dir.path(), 1 << 20).unwrap();
        for i in 0..10 {
            s.push(&rec(i)).unwrap();
        }
    }
    let seg = segments(dir.path()).pop().unwrap();
    let frame = std::fs::metadata(&seg).unwrap().len() / 10;
    // Garbage in the payload of record 6 (same length, wrong bytes).
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .write_all_at(b"XX", 6 * frame + HEADER + 2)
        .unwrap();
    let (mut s, r) = Spool::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(r.records, 6);
    assert_eq!(r.torn.len(), 1);
    assert_eq!(drain(&mut s), (0..6).map(rec).collect::<Vec<_>>());
}
