//! The store's caches seen from outside: a second `Store` on the same SQLite file plays
//! another SOTP process sharing the database; its writes are seen within the TTL, writes
//! through the store itself at once.

use crate::*;

async fn two_stores() -> (Store, Store, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/inv.db", tmp.path().display());
    let key = MasterKey::generate();
    let a = Store::open(&url, key.clone()).await.unwrap();
    let b = Store::open(&url, key).await.unwrap();
    (a, b, tmp)
}

fn dev(name: &str, address: &str) -> DeviceInput {
    serde_json::from_value(serde_json::json!({"name": name, "address": address})).unwrap()
}

#[tokio::test]
async fn a_revoked_api_token_is_refused_at_once_here_and_within_the_ttl_elsewhere() {
    let (a, b, _tmp) = two_stores().await;
    let t = a
        .create_api_token("grafana", Role::Readonly, None, "alice")
        .await
        .unwrap();
    assert!(a.check_api_token("sotp_unknown").await.unwrap().is_none());
    assert_eq!(a.api_token_cache.len(), 0, "unknown tokens are not cached");
    let live = a.check_api_token(&t.token).await.unwrap().unwrap();
    assert_eq!((live.role, live.name.as_str()), (Role::Readonly, "grafana"));
    assert_eq!(a.api_token_cache.len(), 1);
    // Revoked by the other process: still accepted here until the TTL ends (the
    // documented bound), then refused.
    b.revoke_api_token(t.meta.id).await.unwrap();
    assert!(a.check_api_token(&t.token).await.unwrap().is_some());
    a.api_token_cache.age_all(crate::token_cache::TTL);
    assert!(a.check_api_token(&t.token).await.unwrap().is_none());

    // Revoked through this store: refused on the next request.
    let t = a
        .create_api_token("script", Role::Operator, None, "alice")
        .await
        .unwrap();
    assert!(a.check_api_token(&t.token).await.unwrap().is_some());
    assert!(a.check_api_token(&t.token).await.unwrap().is_some());
    a.revoke_api_token(t.meta.id).await.unwrap();
    assert!(a.check_api_token(&t.token).await.unwrap().is_none());
}

#[tokio::test]
async fn a_cached_page_ends_with_a_write_here_or_the_ttl() {
    let (a, b, _tmp) = two_stores().await;
    let f = |j: serde_json::Value| serde_json::from_value::<DeviceFilter>(j).unwrap();
    let page = |body: bytes::Bytes| serde_json::from_slice::<serde_json::Value>(&body).unwrap();
    let all = f(serde_json::json!({"limit": 50}));
    a.create_device(&dev("alpha", "10.0.0.1"), "t", ManagedBy::Api, None)
        .await
        .unwrap();
    let p = page(a.list_devices_json(&all).await.unwrap());
    assert_eq!(p["total"], 1);
    assert_eq!(p["items"][0]["name"], "alpha");
    assert_eq!(
        serde_json::to_value(a.list_devices(&all).await.unwrap()).unwrap(),
        p,
        "the body is the serialised page"
    );

    // Written by the other process: seen here once the TTL ended.
    b.create_device(&dev("beta", "10.0.0.2"), "t", ManagedBy::Api, None)
        .await
        .unwrap();
    assert_eq!(page(a.list_devices_json(&all).await.unwrap())["total"], 1);
    a.device_pages.age_all(crate::page_cache::TTL);
    a.device_counts.age_all(crate::list::COUNT_TTL);
    let p = page(a.list_devices_json(&all).await.unwrap());
    assert_eq!(p["total"], 2);
    assert_eq!(p["items"][1]["name"], "beta");

    // Written here: seen by the next request, for every filter.
    let v = f(serde_json::json!({"limit": 10, "q": "gamma"}));
    assert_eq!(page(a.list_devices_json(&v).await.unwrap())["total"], 0);
    let g = a
        .create_device(&dev("gamma", "10.0.0.3"), "t", ManagedBy::Api, None)
        .await
        .unwrap();
    assert_eq!(page(a.list_devices_json(&all).await.unwrap())["total"], 3);
    assert_eq!(page(a.list_devices_json(&v).await.unwrap())["total"], 1);
    a.delete_device(&g.id, false).await.unwrap();
    assert_eq!(page(a.list_devices_json(&v).await.unwrap())["total"], 0);

    // Bad parameters are refused, never cached.
    let bad = f(serde_json::json!({"limit": 5000}));
    assert!(matches!(
        a.list_devices_json(&bad).await,
        Err(InventoryError::Validation(_))
    ));
}
