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
    Template::parse(&text).map_err(|source| LoadError::Template { path: path.to_owned(), source })
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
        Ok(NtcTemplates { dir: dir.to_owned(), index: Index::load(dir)?, cache: Mutex::new(HashMap::new()) })
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
        self.index.path.clone().unwrap_or_else(|| self.dir.join("index"))
    }

    /// The template file `name` of the folder, read and compiled on first use.
    pub fn template(&self, name: &str) -> Result<Arc<Template>, LoadError> {
        if let Some(t) = self.cache.lock().unwrap_or_else(PoisonError::into_inner).get(name) {
            return Ok(Arc::clone(t));
        }
        // Compiled outside the lock; a concurrent first use may compile it twice.
        let template = Arc::new(load_template(&self.dir.join(name))?);
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(Arc::clone(cache.entry(name.to_owned()).or_insert(template)))
    }
}
