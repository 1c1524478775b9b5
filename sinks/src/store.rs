//! The object store behind the cold tier, built from `[storage] url`.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;

/// Storage failures. Each says whether retrying may help.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The configured URL cannot be used.
    #[error("storage url `{url}`: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why not.
        reason: String,
    },
    /// The object store failed (disk full, network, permissions).
    #[error("object store: {0}")]
    Object(#[from] object_store::Error),
    /// Parquet encoding or decoding failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Arrow failed (concatenating or sorting batches).
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A local directory could not be created.
    #[error("{path}: {source}")]
    Io {
        /// The directory.
        path: String,
        /// The system's error.
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether retrying the same operation later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Object(_) | StoreError::Io { .. })
    }
}

/// The cold tier's object store, rooted at the configured location: table folders are
/// relative to it.
#[derive(Clone, Debug)]
pub struct ColdStore {
    store: Arc<dyn ObjectStore>,
    description: String,
}

impl ColdStore {
    /// Opens `url`, or `<data_dir>/parquet` on the local disk when `url` is empty.
    pub fn open(url: &str, data_dir: &std::path::Path) -> Result<Self, StoreError> {
        if url.is_empty() {
            let dir = data_dir.join("parquet");
            return Self::local(&dir);
        }
        let parsed = url::Url::parse(url).map_err(|e| StoreError::Url {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        if parsed.scheme() == "file" {
            let dir = parsed.to_file_path().map_err(|()| StoreError::Url {
                url: url.to_string(),
                reason: "not an absolute file path".into(),
            })?;
            return Self::local(&dir);
        }
        // Cloud stores read their credentials and endpoints from the environment
        // (AWS_ACCESS_KEY_ID, AWS_ENDPOINT, AWS_ALLOW_HTTP, GOOGLE_*, AZURE_*).
        let options: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| {
                k.starts_with("AWS_") || k.starts_with("GOOGLE_") || k.starts_with("AZURE_")
            })
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        let (store, prefix) = object_store::parse_url_opts(&parsed, options)?;
        let store: Arc<dyn ObjectStore> = if prefix.as_ref().is_empty() {
            Arc::from(store)
        } else {
            Arc::new(PrefixStore::new(store, prefix))
        };
        Ok(Self {
            store,
            description: url.to_string(),
        })
    }

    /// A local directory (created when missing).
    pub fn local(dir: &std::path::Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let store = LocalFileSystem::new_with_prefix(dir)?;
        Ok(Self {
            store: Arc::new(store),
            description: dir.display().to_string(),
        })
    }

    /// Wraps any object store (tests, in-memory).
    pub fn from_store(store: Arc<dyn ObjectStore>, description: &str) -> Self {
        Self {
            store,
            description: description.to_string(),
        }
    }

    /// The object store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Where the files are, for logs and `--help` output.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The path of an object relative to the store root, as a string.
    pub fn display_path(&self, path: &Path) -> String {
        format!("{}/{}", self.description.trim_end_matches('/'), path)
    }
}

/// One Parquet file of the store read by ranges: the footer, then only the column chunks
/// a reader asks for (a projection of a few columns of a large file).
#[derive(Debug)]
pub(crate) struct StoreFile {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

impl StoreFile {
    /// The file at `path`, `size` bytes long (as listed).
    pub(crate) fn new(store: &ColdStore, path: &Path, size: u64) -> Self {
        Self {
            store: store.store.clone(),
            path: path.clone(),
            size,
        }
    }
}

fn parquet_error(e: object_store::Error) -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::External(Box::new(e))
}

impl parquet::arrow::async_reader::AsyncFileReader for StoreFile {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> futures::future::BoxFuture<'_, parquet::errors::Result<bytes::Bytes>> {
        Box::pin(async move {
            object_store::ObjectStoreExt::get_range(self.store.as_ref(), &self.path, range)
                .await
                .map_err(parquet_error)
        })
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> futures::future::BoxFuture<'_, parquet::errors::Result<Vec<bytes::Bytes>>> {
        Box::pin(async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(parquet_error)
        })
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a parquet::arrow::arrow_reader::ArrowReaderOptions>,
    ) -> futures::future::BoxFuture<
        'a,
        parquet::errors::Result<Arc<parquet::file::metadata::ParquetMetaData>>,
    > {
        Box::pin(async move {
            let size = self.size;
            let meta = parquet::file::metadata::ParquetMetaDataReader::new()
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(meta))
        })
    }
}
