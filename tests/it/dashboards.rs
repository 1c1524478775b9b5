//! The provisioned Grafana dashboards (`deploy/grafana/dashboards/`): valid for Grafana
//! 11 (type-checked against `@grafana/schema` by `scripts/check-dashboards.mjs`), and
//! every panel's SQL, with the macros expanded as Grafana expands them, answers through
//! the PostgreSQL wire with the columns its format needs, on a running SOTP with data.

use std::process::Command;

use serde_json::Value;

use crate::common::{ADMIN_PASSWORD, ADMIN_USER, stdout_ok};
use crate::pgwire::{grafana, pgx, rfc3339_nano, start, wait_for_samples};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn dashboards_type_check_against_grafanas_schema() {
    let out = stdout_ok(Command::new("node").arg(format!("{ROOT}/scripts/check-dashboards.mjs")));
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("4 dashboards valid"), "{text}");
}

/// Every `rawSql` of a dashboard (panels, rows' panels and query variables) with its
/// title and format.
fn targets(dashboard: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut panels: Vec<&Value> = dashboard["panels"].as_array().unwrap().iter().collect();
    while let Some(p) = panels.pop() {
        if let Some(inner) = p["panels"].as_array() {
            panels.extend(inner);
        }
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(sql) = t["rawSql"].as_str() {
                let title = format!("{} [{}]", p["title"].as_str().unwrap_or("?"), t["refId"]);
                let format = t["format"].as_str().unwrap_or("time_series").to_string();
                out.push((title, format, sql.to_string()));
            }
        }
    }
    for v in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let q = &v["query"];
        let sql = q.as_str().or_else(|| q["rawSql"].as_str());
        if let Some(sql) = sql {
            out.push((
                format!("variable {}", v["name"]),
                "table".into(),
                sql.to_string(),
            ));
        }
    }
    out
}

/// Grafana's expansion of the macros the dashboards use (macros.go), for one range.
fn expand(sql: &str, from: &str, to: &str, device: &str) -> String {
    let group = regex::Regex::new(r"\$__timeGroupAlias\((\w+),\s*'(\d+)([smh])'\)").unwrap();
    let sql = group.replace_all(sql, |c: &regex::Captures| {
        let n: u64 = c[2].parse().unwrap();
        let secs = n * match &c[3] {
            "s" => 1,
            "m" => 60,
            _ => 3600,
        };
        grafana::time_group_alias(&c[1], secs)
    });
    let filter = regex::Regex::new(r"\$__timeFilter\((\w+)\)").unwrap();
    let sql = filter.replace_all(&sql, |c: &regex::Captures| {
        grafana::time_filter(&c[1], from, to)
    });
    let time = regex::Regex::new(r"\$__time\((\w+)\)").unwrap();
    let sql = time.replace_all(&sql, |c: &regex::Captures| grafana::time(&c[1]));
    sql.replace("$__timeFrom()", &format!("'{from}'"))
        .replace("$__timeTo()", &format!("'{to}'"))
        .replace("$device", device)
}

#[test]
fn every_panel_query_answers_through_the_postgresql_wire() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    wait_for_samples(&server);
    let now = chrono::Utc::now();
    let (from, to) = (
        rfc3339_nano(now - chrono::Duration::hours(6)),
        rfc3339_nano(now + chrono::Duration::seconds(5)),
    );
    let mut checked = 0;
    let mut with_rows = Vec::new();
    for name in [
        "network-overview",
        "device-details",
        "sotp-health",
        "alerts",
    ] {
        let path = format!("{ROOT}/deploy/grafana/dashboards/{name}.json");
        let dashboard: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let targets = targets(&dashboard);
        let queries: Vec<String> = targets
            .iter()
            .map(|(_, _, sql)| expand(sql, &from, &to, "lo-1"))
            .collect();
        for q in &queries {
            assert!(
                !q.contains("$__") && !q.contains("$device"),
                "unexpanded macro in {q}"
            );
        }
        let refs: Vec<&str> = queries.iter().map(String::as_str).collect();
        let answers = pgx(server.pg_port, ADMIN_USER, ADMIN_PASSWORD, &refs);
        assert_eq!(answers.len(), targets.len());
        for ((title, format, _), (a, q)) in targets.iter().zip(answers.iter().zip(&queries)) {
            assert_eq!(a["error"], Value::Null, "{name}: {title}: {q}\n{a}");
            let result = &a["results"][0];
            let fields = result["fields"].as_array().unwrap();
            if format == "time_series" {
                // Grafana's long format: a time column first (epoch seconds as a
                // number, or a timestamp), numbers after any text `metric`.
                assert_eq!(fields[0]["name"], "time", "{name}: {title}: {fields:?}");
                assert!(
                    matches!(fields[0]["oid"].as_u64(), Some(20 | 23 | 700 | 701 | 1184)),
                    "{name}: {title}: time is not a number or timestamp: {fields:?}"
                );
                for f in &fields[1..] {
                    let numeric =
                        matches!(f["oid"].as_u64(), Some(20 | 21 | 23 | 700 | 701 | 1700));
                    assert!(
                        numeric || f["name"] == "metric",
                        "{name}: {title}: column {f} is neither a number nor `metric`"
                    );
                }
            }
            checked += 1;
            if !result["rows"].as_array().unwrap().is_empty() {
                with_rows.push(format!("{name}: {title}"));
            }
        }
    }
    eprintln!(
        "{checked} panel queries answered, {} with rows: {with_rows:#?}",
        with_rows.len()
    );
    assert!(
        checked >= 40,
        "only {checked} queries: are the dashboards there?"
    );
    // With two pinged devices, every ICMP and poll panel has data.
    for must in [
        "network-overview: Devices up",
        "network-overview: Top 10 latency",
        "network-overview: Reachability history",
        "device-details: Round-trip time",
        "device-details: Status",
        "sotp-health: Poll success ratio",
        "sotp-health: Samples written per minute by collector",
    ] {
        assert!(
            with_rows.iter().any(|t| t.starts_with(must)),
            "{must} returned no rows"
        );
    }
}
