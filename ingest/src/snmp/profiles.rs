//! Vendor profiles: which extra columns to poll for a device, chosen by sysObjectID.
//!
//! Profiles are TOML files. The ones in `ingest/profiles/` are built in; files in the
//! configured `profiles_dir` are read at start-up and replace a built-in profile of the
//! same name or add new ones, so users add vendors without recompiling. The profile
//! whose `sys_object_ids` prefix matches the device's sysObjectID longest wins; a
//! device that matches none gets the `generic` profile.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use super::value::Oid;

/// One metric of a profile: a table column walked every poll.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileMetric {
    /// Metric name, for example `cpu.load_pct`.
    pub metric: String,
    /// The column (or scalar without `.0`) to walk.
    pub column: Oid,
    /// A column of the same table whose text names the instance; else the index.
    pub name_column: Option<Oid>,
    /// Multiplier applied to the value.
    pub scale: f64,
}

/// A vendor profile.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// Unique name (the file name's stem by convention).
    pub name: String,
    /// sysObjectID prefixes that select this profile.
    pub sys_object_ids: Vec<Oid>,
    /// What to poll.
    pub metrics: Vec<ProfileMetric>,
}

/// A profile file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Reading the directory or a file failed.
    #[error("cannot read SNMP profile {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The system's error.
        source: std::io::Error,
    },
    /// The file is not a valid profile.
    #[error("invalid SNMP profile {path}: {reason}")]
    Invalid {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    #[serde(default)]
    #[allow(dead_code)]
    description: String,
    sys_object_ids: Vec<String>,
    #[serde(default)]
    metrics: Vec<RawMetric>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    metric: String,
    column: String,
    name_column: Option<String>,
    scale: Option<f64>,
}

const BUILT_IN: &[(&str, &str)] = &[
    ("arista.toml", include_str!("../../profiles/arista.toml")),
    ("cisco.toml", include_str!("../../profiles/cisco.toml")),
    ("generic.toml", include_str!("../../profiles/generic.toml")),
    ("huawei.toml", include_str!("../../profiles/huawei.toml")),
    ("juniper.toml", include_str!("../../profiles/juniper.toml")),
    (
        "mikrotik.toml",
        include_str!("../../profiles/mikrotik.toml"),
    ),
];

impl Profile {
    /// Parses one profile file's text; `path` is for messages.
    pub fn parse(text: &str, path: &str) -> Result<Profile, ProfileError> {
        let invalid = |reason: String| ProfileError::Invalid {
            path: path.to_string(),
            reason,
        };
        let raw: RawProfile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let oid = |s: &str| s.parse::<Oid>().map_err(&invalid);
        let mut metrics = Vec::new();
        for m in raw.metrics {
            if !m.metric.contains('.') {
                return Err(invalid(format!(
                    "metric `{}` must be a dotted name such as cpu.load_pct",
                    m.metric
                )));
            }
            metrics.push(ProfileMetric {
                column: oid(&m.column)?,
                name_column: m.name_column.as_deref().map(oid).transpose()?,
                scale: m.scale.unwrap_or(1.0),
                metric: m.metric,
            });
        }
        Ok(Profile {
            name: raw.name,
            sys_object_ids: raw
                .sys_object_ids
                .iter()
                .map(|s| oid(s))
                .collect::<Result<_, _>>()?,
            metrics,
        })
    }
}

/// Every known profile.
#[derive(Clone, Debug)]
pub struct Profiles {
    all: Vec<Arc<Profile>>,
}

impl Profiles {
    /// The built-in profiles, then those of `dir` (same name replaces).
    pub fn load(dir: Option<&Path>) -> Result<Profiles, ProfileError> {
        let mut all: Vec<Arc<Profile>> = Vec::new();
        let mut add = |p: Profile| {
            all.retain(|q| q.name != p.name);
            all.push(Arc::new(p));
        };
        for (name, text) in BUILT_IN {
            add(Profile::parse(text, name)?);
        }
        if let Some(dir) = dir {
            let io = |source| ProfileError::Io {
                path: dir.display().to_string(),
                source,
            };
            let mut files: Vec<_> = std::fs::read_dir(dir)
                .map_err(io)?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            files.sort();
            for f in files {
                let path = f.display().to_string();
                let text = std::fs::read_to_string(&f).map_err(|source| ProfileError::Io {
                    path: path.clone(),
                    source,
                })?;
                add(Profile::parse(&text, &path)?);
            }
        }
        Ok(Profiles { all })
    }

    /// The profile for a device with `sys_object_id`: the longest matching prefix, else
    /// `generic`, else an empty profile.
    pub fn select(&self, sys_object_id: Option<&Oid>) -> Arc<Profile> {
        let best = sys_object_id.and_then(|id| {
            self.all
                .iter()
                .filter_map(|p| {
                    p.sys_object_ids
                        .iter()
                        .filter(|pre| id.0.starts_with(&pre.0))
                        .map(|pre| pre.0.len())
                        .max()
                        .map(|len| (len, p))
                })
                .max_by_key(|(len, _)| *len)
                .map(|(_, p)| p.clone())
        });
        best.or_else(|| self.all.iter().find(|p| p.name == "generic").cloned())
            .unwrap_or_else(|| {
                Arc::new(Profile {
                    name: "none".into(),
                    sys_object_ids: vec![],
                    metrics: vec![],
                })
            })
    }

    /// Names of every profile, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.all.iter().map(|p| p.name.clone()).collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_profiles_parse_and_select_by_sys_object_id() {
        let p = Profiles::load(None).unwrap();
        assert_eq!(
            p.names(),
            [
                "arista", "cisco", "generic", "huawei", "juniper", "mikrotik"
            ]
        );
        let pick = |s: &str| p.select(Some(&s.parse().unwrap())).name.clone();
        assert_eq!(pick("1.3.6.1.4.1.9.1.617"), "cisco");
        assert_eq!(pick("1.3.6.1.4.1.2636.1.1.1.2.21"), "juniper");
        assert_eq!(pick("1.3.6.1.4.1.30065.1.3011.7150"), "arista");
        assert_eq!(pick("1.3.6.1.4.1.8072.3.2.10"), "generic");
        // A prefix must match whole arcs: .90 is not under .9.
        assert_eq!(pick("1.3.6.1.4.1.90.1"), "generic");
        assert_eq!(p.select(None).name, "generic");
    }

    #[test]
    fn a_directory_adds_and_replaces_profiles() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("acme.toml"),
            "name = \"acme\"\nsys_object_ids = [\"1.3.6.1.4.1.99999\"]\n[[metrics]]\nmetric = \"cpu.load_pct\"\ncolumn = \"1.3.6.1.4.1.99999.1.1\"\nscale = 0.5\n",
        )
        .unwrap();
        let p = Profiles::load(Some(dir.path())).unwrap();
        let acme = p.select(Some(&"1.3.6.1.4.1.99999.3".parse().unwrap()));
        assert_eq!(acme.name, "acme");
        assert_eq!(acme.metrics[0].scale, 0.5);

        std::fs::write(dir.path().join("bad.toml"), "name = 1\n").unwrap();
        let err = Profiles::load(Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains("bad.toml"), "{err}");
    }
}
