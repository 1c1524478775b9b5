//! The crate table of `docs/architecture.md` is the rule: every workspace crate is in it,
//! and no crate depends, directly or through others, on a crate its row forbids
//! (`cargo metadata`, normal dependencies). A new dependency that breaks a boundary fails
//! here with the chain that brings it in.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::process::Command;

use serde_json::Value;

/// (crate, forbidden crates) from the table's rows.
fn rules() -> Vec<(String, Vec<String>)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/architecture.md");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 4, "a crate row has 4 cells: {l}");
            let forbidden = cells[3]
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            (cells[1].to_string(), forbidden)
        })
        .collect()
}

struct Graph {
    members: BTreeSet<String>,
    /// Package name -> names of its normal dependencies.
    deps: BTreeMap<String, BTreeSet<String>>,
}

fn graph() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let name_of: BTreeMap<&str, &str> = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let members = v["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| name_of[id.as_str().unwrap()].to_string())
        .collect();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for node in v["resolve"]["nodes"].as_array().unwrap() {
        let from = name_of[node["id"].as_str().unwrap()].to_string();
        let normal = node["deps"].as_array().unwrap().iter().filter(|d| {
            d["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null())
        });
        let entry = deps.entry(from).or_default();
        for d in normal {
            entry.insert(name_of[d["pkg"].as_str().unwrap()].to_string());
        }
    }
    Graph { members, deps }
}

/// The chain from `from` to `to` through normal dependencies, if there is one.
fn chain(g: &Graph, from: &str, to: &str) -> Option<Vec<String>> {
    let mut parent: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = VecDeque::from([from.to_string()]);
    let mut seen = BTreeSet::from([from.to_string()]);
    while let Some(cur) = queue.pop_front() {
        if cur == to {
            let mut path = vec![cur.clone()];
            let mut at = cur;
            while let Some(p) = parent.get(&at) {
                path.push(p.clone());
                at = p.clone();
            }
            path.reverse();
            return Some(path);
        }
        for next in g.deps.get(&cur).into_iter().flatten() {
            if seen.insert(next.clone()) {
                parent.insert(next.clone(), cur.clone());
                queue.push_back(next.clone());
            }
        }
    }
    None
}

#[test]
fn no_crate_depends_on_what_docs_architecture_md_forbids() {
    let rules = rules();
    let g = graph();
    let listed: BTreeSet<String> = rules.iter().map(|(c, _)| c.clone()).collect();
    for m in &g.members {
        assert!(
            listed.contains(m),
            "workspace crate `{m}` is missing from the table of docs/architecture.md"
        );
    }
    let mut broken = Vec::new();
    let mut checked = 0;
    for (krate, forbidden) in &rules {
        for f in forbidden {
            checked += 1;
            if let Some(path) = chain(&g, krate, f) {
                broken.push(path.join(" -> "));
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} rules read: is the table intact?"
    );
    assert!(
        broken.is_empty(),
        "dependencies docs/architecture.md forbids:\n{}",
        broken.join("\n")
    );
    // The rules bite: the binary does reach what the collectors may not.
    assert!(chain(&g, "sotp", "datafusion").is_some());
    assert!(chain(&g, "sotp-ingest", "tokio").is_some());
}
