//! Reading templates and the index from a templates folder (the only I/O in the
//! crate): [`Index::load`], [`load_template`], and [`NtcTemplates`], a folder's
//! index plus a cache of the templates read from it so far.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{IndexError, LoadError};
use crate::index::Index;
use crate::template::Template;

impl Index {
    /// Reads and parses `dir/index`.
    pub fn load(dir: &Path) -> Result<Index, IndexError> {
        let path = dir.join("index");
        let text = std::fs::read_to_string(&path).map_err(|e| IndexError::Io {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut index = Index::parse(&text)?;
        index.path = Some(path);
        Ok(index)
    }
}

/// Reads and parses one template file (UTF-8, as Python's default `open`).
pub fn load_template(path: &Path) -> Result<Template, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::Io {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    Template::parse(&text).map_err(|source| LoadError::Template {
        path: path.to_owned(),
        source,
    })
}

/// An ntc-templates folder: its index, and the templates read from it so far
/// (each read and compiled once, on first use; safe to share between threads).
#[derive(Debug)]
pub struct NtcTemplates {
    dir: PathBuf,
    index: Index,
    cache: Mutex<HashMap<String, Arc<Template>>>,
}

impl NtcTemplates {
    /// Reads `dir/index`; templates are read when first needed.
    pub fn load(dir: &Path) -> Result<NtcTemplates, IndexError> {
        Ok(NtcTemplates {
            dir: dir.to_owned(),
            index: Index::load(dir)?,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The path of the index file.
    pub fn index_path(&self) -> PathBuf {
        self.index
            .path
            .clone()
            .unwrap_or_else(|| self.dir.join("index"))
    }

    /// The template file `name` of the folder, read and compiled on first use.
    pub fn template(&self, name: &str) -> Result<Arc<Template>, LoadError> {
        if let Some(t) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
        {
            return Ok(Arc::clone(t));
        }
        // Compiled outside the lock; a concurrent first use may compile it twice.
        let template = Arc::new(load_template(&self.dir.join(name))?);
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(Arc::clone(cache.entry(name.to_owned()).or_insert(template)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::NtcError;

    /// A templates folder in the temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn folder(files: &[(&str, &str)]) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "sotp-textfsm-fs-{}-{}",
            std::process::id(),
            files.len()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        for (name, text) in files {
            std::fs::write(dir.join(name), text).expect("write");
        }
        TempDir(dir)
    }

    #[test]
    fn parse_output_from_a_folder() {
        let dir = folder(&[
            (
                "index",
                "Template, Hostname, Platform, Command\n\nver.textfsm, .*, cisco_ios, sh[[ow]] ver[[sion]]\n",
            ),
            (
                "ver.textfsm",
                "Value VERSION (\\S+)\n\nStart\n  ^Version ${VERSION} -> Record\n",
            ),
        ]);
        let lib = NtcTemplates::load(&dir.0).expect("load");
        let rows =
            crate::parse_output(&lib, "cisco_ios", "sh ver", "Version 15.2\n").expect("parse");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get("version"), Some(&serde_json::json!("15.2")));
        let err = crate::parse_output(&lib, "cisco_nxos", "sh ver", "").expect_err("no template");
        assert!(matches!(err, NtcError::NoTemplate { .. }));
        assert_eq!(
            err.to_string(),
            format!(
                "no template for platform cisco_nxos command sh ver in {}",
                dir.0.join("index").display()
            )
        );
        assert!(Arc::ptr_eq(
            &lib.template("ver.textfsm").expect("cached"),
            &lib.template("ver.textfsm").expect("cached")
        ));
    }

    #[test]
    fn load_errors_name_the_file() {
        let dir = folder(&[
            (
                "index",
                "Template, Platform, Command\nbad.textfsm:missing.textfsm, x, y\n",
            ),
            ("bad.textfsm", "Start\n"),
        ]);
        let lib = NtcTemplates::load(&dir.0).expect("load");
        let err = lib.template("bad.textfsm").expect_err("bad template");
        assert!(
            err.to_string()
                .contains("bad.textfsm: template line 1: no Value definitions found"),
            "{err}"
        );
        assert!(matches!(
            lib.template("missing.textfsm"),
            Err(LoadError::Io { .. })
        ));
        assert!(matches!(
            Index::load(&dir.0.join("nowhere")),
            Err(IndexError::Io { .. })
        ));
    }
}
