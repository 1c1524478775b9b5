//! Reports over a controlled history: every expected number is counted from what the test
//! wrote, not from the report's own SQL.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use chrono::{DateTime, TimeZone, Utc};
use sotp_inventory::{DeviceInput, ManagedBy, MasterKey, Store};
use sotp_query::{InventoryKind, InventoryTable, QueryConfig, QueryEngine};
use sotp_schemas::{
    AlertBatchBuilder, AlertEvent, AlertState, DeviceId, MetricName, MetricSample, UtcNanos,
    alert_schema, log_schema, metric_schema, samples_to_batch,
};
use sotp_sinks::writer::Layout;
use sotp_sinks::{ColdStore, TableStore};

use super::*;

/// 2026-12-01T00:00:00Z.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
}

fn ns(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap()
}

/// One hour of 30 s polls: 120 slots.
const SLOTS: i64 = 120;
const INTERVAL_NS: i64 = 30_000_000_000;

/// How a device answered in each slot: `Some(up)` or not polled.
struct History {
    id: &'static str,
    name: &'static str,
    slot: fn(i64) -> Option<bool>,
    /// Polls per slot: a device polled more often than the report's interval.
    polls_per_slot: i64,
}

const HISTORIES: [History; 3] = [
    // Down for slots 10..20 (300 s), not polled in slots 50..56 (180 s).
    History {
        id: "d-paris",
        name: "paris-core",
        slot: |s| match s {
            10..20 => Some(false),
            50..56 => None,
            _ => Some(true),
        },
        polls_per_slot: 1,
    },
    // Polled every 15 s: its 240 polls stand for the hour, not for two.
    History {
        id: "d-lyon",
        name: "lyon-core",
        slot: |_| Some(true),
        polls_per_slot: 2,
    },
    // Not in the inventory; down at both ends of the hour: two episodes.
    History {
        id: "d-stray",
        name: "stray",
        slot: |s| Some((2..SLOTS - 3).contains(&s)),
        polls_per_slot: 1,
    },
];

async fn engine() -> (QueryEngine, tempfile::TempDir) {
    let cold = ColdStore::from_store(Arc::new(object_store::memory::InMemory::new()), "memory");
    let metrics = TableStore::open(
        "metrics",
        metric_schema(),
        Layout::metrics(),
        cold.clone(),
        1000,
        3,
    )
    .await
    .unwrap();
    let alerts = TableStore::open(
        "alerts",
        alert_schema(),
        Layout::alerts(),
        cold.clone(),
        1000,
        3,
    )
    .await
    .unwrap();
    let logs = TableStore::open("logs", log_schema(), Layout::logs(), cold.clone(), 1000, 3)
        .await
        .unwrap();
    let col: Arc<str> = Arc::from("icmp");
    let up = MetricName::new("icmp.up");
    let rtt = MetricName::new("icmp.rtt_ms");
    let mut rows = Vec::new();
    for h in &HISTORIES {
        let (id, name) = (DeviceId::new(h.id), Arc::<str>::from(h.name));
        for s in 0..SLOTS {
            let Some(answered) = (h.slot)(s) else {
                continue;
            };
            // Polls land anywhere in their slot.
            for p in 0..h.polls_per_slot {
                let at = ns(t0()) + s * INTERVAL_NS + p * 15_000_000_000 + (s % 5) * 2_000_000_000;
                rows.push(MetricSample::gauge(
                    UtcNanos(at),
                    &id,
                    &name,
                    &col,
                    &up,
                    f64::from(u8::from(answered)),
                ));
            }
            let at = ns(t0()) + s * INTERVAL_NS;
            if answered {
                rows.push(MetricSample::gauge(
                    UtcNanos(at),
                    &id,
                    &name,
                    &col,
                    &rtt,
                    (s % 10) as f64,
                ));
            }
        }
    }
    // Outside the period: never counted.
    let (id, name) = (DeviceId::new("d-lyon"), Arc::<str>::from("lyon-core"));
    rows.push(MetricSample::gauge(
        UtcNanos(ns(t0()) - 1),
        &id,
        &name,
        &col,
        &up,
        0.0,
    ));
    rows.push(MetricSample::gauge(
        UtcNanos(ns(t0()) + SLOTS * INTERVAL_NS),
        &id,
        &name,
        &col,
        &up,
        0.0,
    ));
    metrics.append(samples_to_batch(&rows));

    // Two resolved critical alerts (300 s and 100 s to resolve), one still firing.
    let mut b = AlertBatchBuilder::default();
    for (alert, device, fired, resolved) in [
        ("a1", "d-paris", 60, Some(360)),
        ("a2", "d-paris", 100, Some(200)),
        ("a3", "d-lyon", 1000, None),
    ] {
        let event = |state, at: i64| AlertEvent {
            time: UtcNanos(ns(t0()) + at * 1_000_000_000),
            rule_id: "r-down".into(),
            rule_name: "device down".into(),
            device_id: Some(DeviceId::new(device)),
            state,
            severity: "critical".into(),
            value: None,
            message: String::new(),
            labels: Default::default(),
            fingerprint: alert.into(),
            alert_id: alert.into(),
            starts_at: Some(UtcNanos(ns(t0()) + fired * 1_000_000_000)),
            annotations: Default::default(),
            receivers: Vec::new(),
            group_key: String::new(),
            group_wait_s: 0,
            ..serde_json::from_value(serde_json::json!({
                "time": "2026-12-01T00:00:00Z", "rule_id": "", "rule_name": "",
                "state": "firing", "severity": "", "message": ""
            }))
            .unwrap()
        };
        b.push(&event(AlertState::Firing, fired));
        if let Some(r) = resolved {
            b.push(&event(AlertState::Resolved, r));
        }
    }
    alerts.append(b.finish());

    let engine = QueryEngine::new(QueryConfig::default(), &cold, &[metrics, alerts, logs]).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", tmp.path().join("inventory.db").display());
    let store = Store::open(&url, MasterKey::generate()).await.unwrap();
    for (id, name, address, location, tags) in [
        ("d-paris", "paris-core", "10.0.0.1", "paris", vec!["core"]),
        ("d-lyon", "lyon-core", "10.0.0.2", "lyon", vec!["edge"]),
        (
            "d-never",
            "never-polled",
            "10.0.0.3",
            "paris",
            vec!["core", "lab"],
        ),
    ] {
        let input: DeviceInput = serde_json::from_value(serde_json::json!(
            {"name": name, "address": address, "location": location, "tags": tags}
        ))
        .unwrap();
        store
            .create_device(&input, "test", ManagedBy::Api, Some(id))
            .await
            .unwrap();
    }
    engine
        .register(
            "devices",
            Arc::new(InventoryTable::new(store, InventoryKind::Devices)),
        )
        .unwrap();
    (engine, tmp)
}

fn spec(kind: ReportKind) -> ReportSpec {
    ReportSpec::new(kind, t0(), t0() + chrono::Duration::hours(1))
}

/// The rows of a section as (device id -> the named columns rendered as text).
fn column<'a>(s: &'a Section, name: &str) -> Vec<&'a Arc<dyn Array>> {
    let i = s
        .schema
        .index_of(name)
        .unwrap_or_else(|_| panic!("no column {name}"));
    s.batches
        .iter()
        .map(|b: &RecordBatch| b.column(i))
        .collect()
}

fn strings(s: &Section, name: &str) -> Vec<Option<String>> {
    column(s, name)
        .into_iter()
        .flat_map(|c| {
            let c = arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8).unwrap();
            let c = c.as_string::<i32>().clone();
            (0..c.len())
                .map(move |i| c.is_valid(i).then(|| c.value(i).to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn row_of(s: &Section, device_id: &str) -> usize {
    strings(s, "device_id")
        .iter()
        .position(|d| d.as_deref() == Some(device_id))
        .unwrap_or_else(|| panic!("no row for {device_id}"))
}

fn int(s: &Section, name: &str, row: usize) -> i64 {
    let c = arrow::compute::concat(
        &column(s, name)
            .iter()
            .map(|c| c.as_ref())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    c.as_primitive::<Int64Type>().value(row)
}

fn float(s: &Section, name: &str, row: usize) -> Option<f64> {
    let c = arrow::compute::concat(
        &column(s, name)
            .iter()
            .map(|c| c.as_ref())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let c = c.as_primitive::<Float64Type>();
    c.is_valid(row).then(|| c.value(row))
}

#[tokio::test]
async fn availability_counts_up_down_and_unpolled_time_per_device() {
    let (engine, _tmp) = engine().await;
    let report = generate(&engine, &spec(ReportKind::Availability), |_| {})
        .await
        .unwrap();
    let devices = &report.sections[0];
    assert_eq!(
        devices.rows(),
        4,
        "three in the inventory, one only in metrics"
    );
    for h in &HISTORIES {
        // Polls counted from the history; each stands for one interval, weighted down
        // when there are more than the hour holds.
        let (up, down) = (0..SLOTS).fold((0, 0), |(u, d), s| match (h.slot)(s) {
            Some(true) => (u + h.polls_per_slot, d),
            Some(false) => (u, d + h.polls_per_slot),
            None => (u, d),
        });
        let weight = (3600.0 / ((up + down) as f64 * 30.0)).min(1.0);
        let (up_s, down_s) = (
            (up as f64 * weight * 30.0).round() as i64,
            (down as f64 * weight * 30.0).round() as i64,
        );
        let row = row_of(devices, h.id);
        assert_eq!(int(devices, "up_seconds", row), up_s, "{}", h.id);
        assert_eq!(int(devices, "downtime_seconds", row), down_s, "{}", h.id);
        assert_eq!(
            int(devices, "unknown_seconds", row),
            3600 - up_s - down_s,
            "{}",
            h.id
        );
        let ratio = up as f64 / (up + down) as f64;
        assert_eq!(float(devices, "uptime_ratio", row), Some(ratio), "{}", h.id);
        assert_eq!(
            float(devices, "completeness", row),
            Some((up_s + down_s) as f64 / 3600.0)
        );
        assert_eq!(
            strings(devices, "sla_met")[row].as_deref(),
            Some(if ratio >= 0.999 { "true" } else { "false" })
        );
    }
    // The lyon device, polled twice per interval: up the whole hour, nothing unknown.
    let lyon = row_of(devices, "d-lyon");
    assert_eq!(int(devices, "up_seconds", lyon), 3600);
    assert_eq!(int(devices, "unknown_seconds", lyon), 0);
    // The paris device: 300 s down, 180 s unknown, as written.
    let paris = row_of(devices, "d-paris");
    assert_eq!(int(devices, "downtime_seconds", paris), 300);
    assert_eq!(int(devices, "unknown_seconds", paris), 180);
    // Never polled: the whole hour unknown, no ratio, the SLA neither met nor missed.
    let never = row_of(devices, "d-never");
    assert_eq!(int(devices, "unknown_seconds", never), 3600);
    assert_eq!(float(devices, "uptime_ratio", never), None);
    assert_eq!(strings(devices, "sla_met")[never], None);
    assert_eq!(
        strings(devices, "device")[never].as_deref(),
        Some("never-polled")
    );

    let episodes = &report.sections[2];
    let starts = strings(episodes, "start");
    let ends = strings(episodes, "end");
    let ids = strings(episodes, "device_id");
    let got: Vec<_> = (0..episodes.rows())
        .map(|i| {
            (
                ids[i].clone().unwrap(),
                starts[i].clone().unwrap(),
                ends[i].clone().unwrap(),
            )
        })
        .collect();
    let at = |slot: i64| {
        DateTime::<Utc>::from_timestamp_nanos(ns(t0()) + slot * INTERVAL_NS)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    };
    let mut want = vec![
        ("d-stray".to_string(), at(0), at(2)),
        ("d-paris".to_string(), at(10), at(20)),
        ("d-stray".to_string(), at(SLOTS - 3), at(SLOTS)),
    ];
    want.sort_by(|a, b| a.1.cmp(&b.1));
    let normalise = |t: &str| {
        t.replace(' ', "T")
            .trim_end_matches("+00:00")
            .trim_end_matches('Z')
            .to_string()
            + "Z"
    };
    let got: Vec<_> = got
        .into_iter()
        .map(|(d, s, e)| (d, normalise(&s), normalise(&e)))
        .collect();
    assert_eq!(got, want);

    let locations = &report.sections[1];
    assert_eq!(
        locations.rows(),
        3,
        "paris, lyon and the device without a location"
    );
}

#[tokio::test]
async fn availability_of_chosen_devices_leaves_the_others_out() {
    let (engine, _tmp) = engine().await;
    let mut s = spec(ReportKind::Availability);
    s.devices = vec!["d-lyon".into()];
    let report = generate(&engine, &s, |_| {}).await.unwrap();
    assert_eq!(
        strings(&report.sections[0], "device_id"),
        vec![Some("d-lyon".to_string())]
    );
}

#[tokio::test]
async fn availability_by_tag_keeps_the_devices_with_one_of_the_tags() {
    let (engine, _tmp) = engine().await;
    let mut s = spec(ReportKind::Availability);
    s.tags = vec!["core".into(), "nowhere".into()];
    let report = generate(&engine, &s, |_| {}).await.unwrap();
    let mut ids = strings(&report.sections[0], "device_id");
    ids.sort();
    assert_eq!(
        ids,
        vec![Some("d-never".to_string()), Some("d-paris".to_string())]
    );
    // Episodes follow the same filter: only the paris device's.
    let episodes = strings(&report.sections[2], "device_id");
    assert_eq!(episodes, vec![Some("d-paris".to_string())]);
}

#[tokio::test]
async fn mttr_is_the_mean_of_each_alerts_own_start_and_resolution() {
    let (engine, _tmp) = engine().await;
    let report = generate(&engine, &spec(ReportKind::Alerts), |_| {})
        .await
        .unwrap();
    let severities = &report.sections[0];
    assert_eq!(
        strings(severities, "severity"),
        vec![Some("critical".to_string())]
    );
    assert_eq!(int(severities, "fired", 0), 3);
    assert_eq!(int(severities, "resolved", 0), 2);
    assert_eq!(
        float(severities, "mttr_seconds", 0),
        Some((300.0 + 100.0) / 2.0)
    );
    let resolved = &report.sections[3];
    let mut seconds: Vec<_> = (0..resolved.rows())
        .map(|i| float(resolved, "seconds_to_resolve", i).unwrap())
        .collect();
    seconds.sort_by(f64::total_cmp);
    assert_eq!(seconds, vec![100.0, 300.0]);
}

#[tokio::test]
async fn every_report_type_runs_and_renders_in_every_format() {
    let (engine, _tmp) = engine().await;
    for kind in ReportKind::ALL {
        let mut steps = Vec::new();
        let report = generate(&engine, &spec(kind), |s| steps.push(s.to_string()))
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(
            steps.len(),
            report.sections.len(),
            "{kind}: progress per section"
        );
        let pdf = render(&report, Format::Pdf).unwrap();
        assert!(pdf.starts_with(b"%PDF-"), "{kind}");
        let html = String::from_utf8(render(&report, Format::Html).unwrap()).unwrap();
        for s in &report.sections {
            assert!(html.contains(s.title), "{kind}: {} missing", s.title);
        }
        let csv = String::from_utf8(render(&report, Format::Csv).unwrap()).unwrap();
        assert_eq!(
            csv.lines().count(),
            report.sections[0].rows() + 1,
            "{kind}: {csv}"
        );
        let parquet = render(&report, Format::Parquet).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            bytes::Bytes::from(parquet),
        )
        .unwrap()
        .build()
        .unwrap();
        let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, report.sections[0].rows(), "{kind}");
    }
}

#[test]
fn the_statement_in_the_documentation_is_the_one_the_report_runs() {
    let doc = include_str!("../../docs/reports.md");
    let block = doc
        .split("<!-- availability-devices-sql -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- /availability-devices-sql -->").next())
        .expect("docs/reports.md marks the availability statement");
    let shown = block
        .trim()
        .strip_prefix("```sql")
        .and_then(|b| b.strip_suffix("```"))
        .expect("a sql code block")
        .trim();
    let mut s = ReportSpec::new(
        ReportKind::Availability,
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
    );
    s.poll_interval = std::time::Duration::from_secs(30);
    let q = sql::queries(&s).unwrap();
    assert_eq!(
        shown,
        format!("{};", q[0].sql),
        "docs/reports.md: paste the output of `sotp report --type availability --from \
         2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z --interval 30s --show-sql`"
    );
}

#[test]
fn the_availability_csv_has_the_fixed_columns() {
    let q = sql::queries(&spec(ReportKind::Availability)).unwrap();
    for col in [
        "device",
        "uptime_ratio",
        "downtime_seconds",
        "unknown_seconds",
        "sla_met",
    ] {
        assert!(
            q[0].sql.contains(&format!(" AS {col}")) || q[0].sql.contains(&format!("SELECT {col}")),
            "{col}"
        );
    }
}

#[test]
fn bad_requests_name_what_is_wrong() {
    let mut s = spec(ReportKind::Availability);
    s.to = s.from;
    assert!(s.validate().unwrap_err().to_string().contains("`from`"));
    let mut s = spec(ReportKind::Availability);
    s.devices = vec!["a\\b".into()];
    assert!(
        s.validate()
            .unwrap_err()
            .to_string()
            .contains("device `a\\b`")
    );
    let mut s = spec(ReportKind::Availability);
    s.sla_target = 99.9;
    assert!(s.validate().unwrap_err().to_string().contains("ratio"));
    assert!(
        "weekly"
            .parse::<ReportKind>()
            .unwrap_err()
            .to_string()
            .contains("availability")
    );
    assert!(
        "pdf2"
            .parse::<Format>()
            .unwrap_err()
            .to_string()
            .contains("csv")
    );
}
