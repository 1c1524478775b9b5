//! Page cache: one shared load, invalidation by generation and TTL, failures not kept,
//! bounds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;

async fn load_counted(
    cache: &PageCache<String>,
    key: &str,
    loads: &AtomicUsize,
    body: &'static str,
) -> Bytes {
    cache
        .get_or_load(key.into(), || async {
            loads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(Bytes::from_static(body.as_bytes()))
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn concurrent_requests_share_one_load() {
    let cache = Arc::new(PageCache::<String>::default());
    let loads = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (cache, loads) = (cache.clone(), loads.clone());
            tokio::spawn(async move { load_counted(&cache, "p", &loads, "page").await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), Bytes::from_static(b"page"));
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(load_counted(&cache, "p", &loads, "x").await, "page");
    assert_eq!(loads.load(Ordering::SeqCst), 1, "served from the cache");
}

#[tokio::test]
async fn a_new_generation_or_the_ttl_loads_again() {
    let cache = PageCache::<String>::default();
    let loads = AtomicUsize::new(0);
    assert_eq!(load_counted(&cache, "p", &loads, "v0").await, "v0");
    cache.invalidate();
    assert_eq!(load_counted(&cache, "p", &loads, "v1").await, "v1");
    assert_eq!(loads.load(Ordering::SeqCst), 2, "a write ends the entry");
    assert_eq!(load_counted(&cache, "p", &loads, "x").await, "v1");
    cache.age_all(TTL);
    assert_eq!(load_counted(&cache, "p", &loads, "v2").await, "v2");
    assert_eq!(loads.load(Ordering::SeqCst), 3, "the TTL ends the entry");
    assert_eq!(load_counted(&cache, "other", &loads, "o").await, "o");
    assert_eq!(loads.load(Ordering::SeqCst), 4, "keys are distinct");
}

#[tokio::test]
async fn a_failed_load_is_not_kept() {
    let cache = PageCache::<String>::default();
    let r = cache
        .get_or_load("p".into(), || async {
            Err(InventoryError::NotFound("page".into()))
        })
        .await;
    assert!(matches!(r, Err(InventoryError::NotFound(_))));
    let loads = AtomicUsize::new(0);
    assert_eq!(load_counted(&cache, "p", &loads, "ok").await, "ok");
    assert_eq!(loads.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn entries_and_bytes_are_bounded() {
    let cache = PageCache::<String>::default();
    for i in 0..MAX_ENTRIES * 2 + 3 {
        let body = cache
            .get_or_load(format!("p{i}"), || async { Ok(Bytes::from_static(b"{}")) })
            .await
            .unwrap();
        assert_eq!(body, "{}");
        assert!(cache.len() <= MAX_ENTRIES);
    }
    let cache = PageCache::<String>::default();
    let big = Bytes::from(vec![b' '; 1 << 20]);
    for i in 0..(MAX_BYTES >> 20) * 3 {
        let body = big.clone();
        cache
            .get_or_load(format!("p{i}"), || async move { Ok(body) })
            .await
            .unwrap();
        let held = cache.bytes();
        assert!(held <= MAX_BYTES + (1 << 20), "{held} bytes held");
    }
}
