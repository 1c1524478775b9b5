//! The log repeat filter: exact repeats only, bounded memory, and what it knows
//! survives a restart through the Parquet files.

use sotp_schemas::LogBatchBuilder;

use super::*;
use crate::ColdStore;
use crate::test_support::{log_record, logs_table};

const BASE: i64 = 1_764_190_000_000_000_000;

#[test]
fn only_exact_repeats_are_refused() {
    let mut r = RecentLogs::default();
    let a = "10.0.0.1:514";
    assert!(r.insert_record(&log_record(BASE, a, "x")));
    assert!(!r.insert_record(&log_record(BASE, a, "x")), "a repeat");
    assert!(r.insert_record(&log_record(BASE, a, "y")), "other bytes");
    assert!(
        r.insert_record(&log_record(BASE + 1, a, "x")),
        "received later"
    );
    assert!(
        r.insert_record(&log_record(BASE, "10.0.0.2:514", "x")),
        "other source"
    );
    // Older than the newest but never stored (a collector's clock stepped back): kept.
    assert!(r.insert_record(&log_record(BASE - 5, a, "z")));
    assert!(!r.insert_record(&log_record(BASE - 5, a, "z")));
    assert!(
        !r.insert_record(&log_record(BASE, a, "y")),
        "still remembered"
    );
    // Past the window the records are forgotten: a very late repeat is stored.
    assert!(r.insert_record(&log_record(BASE + WINDOW_NS + 1, a, "w")));
    assert!(
        r.insert_record(&log_record(BASE, a, "x")),
        "out of the window"
    );
}

#[test]
fn memory_is_bounded_per_source_and_quiet_sources_are_forgotten() {
    let mut r = RecentLogs::default();
    let n = MAX_PER_SOURCE as i64 + 100;
    for i in 0..n {
        assert!(r.insert_record(&log_record(BASE + i, "busy:1", "m")));
    }
    assert_eq!(r.sources["busy:1"].len(), MAX_PER_SOURCE);
    assert!(!r.insert_record(&log_record(BASE + n - 1, "busy:1", "m")));
    assert!(
        r.insert_record(&log_record(BASE, "busy:1", "m")),
        "forgotten"
    );
    // A source quiet for longer than the window goes at the next pass.
    assert!(r.insert_record(&log_record(BASE, "quiet:1", "m")));
    let later = BASE + 2 * WINDOW_NS;
    for i in 0..FORGET_EVERY as i64 {
        r.insert_record(&log_record(later + i, &format!("s{}", i % 7), "m"));
    }
    assert!(!r.sources.contains_key("quiet:1"));
    assert!(!r.sources.contains_key("busy:1"));
    assert_eq!(r.len(), 7);
}

#[tokio::test]
async fn records_survive_a_restart_through_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = ColdStore::open("", dir.path()).unwrap();
    let t = logs_table(&store).await;
    let old = log_record(BASE - 2 * WINDOW_NS, "a:1", "old");
    let mut b = LogBatchBuilder::with_capacity(8);
    b.push(&old);
    t.append(b.finish());
    t.flush().await.unwrap();
    let stored = [
        log_record(BASE, "a:1", "one"),
        log_record(BASE + 1, "a:1", "one"),
        log_record(BASE + 1, "b:2", "two"),
    ];
    for r in &stored {
        b.push(r);
    }
    t.append(b.finish());
    t.flush().await.unwrap();
    drop(t);

    let t = logs_table(&store).await;
    let mut back = RecentLogs::load(&t).await.unwrap();
    assert_eq!(back.len(), 2);
    for r in &stored {
        assert!(!back.insert_record(r), "{r:?} is stored");
    }
    assert!(back.insert_record(&log_record(BASE + 2, "a:1", "one")));
    // The older file is outside the window before the newest record: skipped whole.
    assert!(back.insert_record(&old), "not read back");
    // Nothing new to read on a second catch-up; the writer's own files never are.
    assert_eq!(back.catch_up(&t).await.unwrap(), 0);
}
