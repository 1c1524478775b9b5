//! The alert transition repeat filter: a transition is stored once, also when the stage
//! publishes it again after a restart and the sink itself restarted in between.

use sotp_schemas::{AlertBatchBuilder, AlertState};

use super::*;
use crate::ColdStore;
use crate::test_support::{alert, alerts_table};

const BASE: i64 = 1_764_190_000_000_000_000;

#[test]
fn a_transition_is_new_once_and_firing_and_resolved_are_two() {
    let mut r = RecentAlerts::default();
    assert!(r.insert_event(&alert(BASE, "a1", AlertState::Firing)));
    assert!(
        !r.insert_event(&alert(BASE, "a1", AlertState::Firing)),
        "the stage again"
    );
    assert!(r.insert_event(&alert(BASE + 10, "a1", AlertState::Resolved)));
    assert!(!r.insert_event(&alert(BASE + 10, "a1", AlertState::Resolved)));
    // The same instance firing again later is another alert (another id).
    assert!(r.insert_event(&alert(BASE + 20, "a2", AlertState::Firing)));
    assert_eq!(r.len(), 3);
}

#[test]
fn memory_is_bounded_by_the_look_back() {
    let mut r = RecentAlerts::default();
    for i in 0..5000i64 {
        r.insert_event(&alert(BASE + i, &format!("old{i}"), AlertState::Firing));
    }
    let later = BASE + LOOKBACK_NS + 10_000;
    for i in 0..5000i64 {
        r.insert_event(&alert(later + i, &format!("new{i}"), AlertState::Firing));
    }
    assert!(r.len() < 10_000, "{} kept", r.len());
    assert!(!r.insert_event(&alert(later + 4999, "new4999", AlertState::Firing)));
}

#[tokio::test]
async fn transitions_stored_before_a_restart_are_refused_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = ColdStore::open("", dir.path()).unwrap();
    let stored = [
        alert(BASE, "a1", AlertState::Firing),
        alert(BASE + 5, "a2", AlertState::Firing),
        alert(BASE + 10, "a1", AlertState::Resolved),
    ];
    let t = alerts_table(&store).await;
    let mut b = AlertBatchBuilder::default();
    for e in &stored {
        b.push(e);
    }
    t.append(b.finish());
    t.flush().await.unwrap();
    drop(t);
    // Another writer (the sink after its restart) reads them back.
    let t = alerts_table(&store).await;
    let mut back = RecentAlerts::load(&t).await.unwrap();
    assert_eq!(back.len(), 3);
    let replay_new: Vec<bool> = stored.iter().map(|e| back.insert_event(e)).collect();
    assert_eq!(replay_new, [false, false, false]);
    assert!(back.insert_event(&alert(BASE + 20, "a2", AlertState::Resolved)));
}
