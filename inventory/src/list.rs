//! Listing devices: filters, search, sort and pagination with a total count.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::cache::Cache;
use crate::devices::{DEVICE_COLUMNS, record_from_row};
use crate::{InventoryError, Store, StoredDevice};

/// The longest a cached list total (and page) is used.
///
/// `GET /api/v1/devices` returns the total with every page; counting 10,000 rows costs
/// more than reading the 50 of a page, and under load (the issue 6 benchmark: 1,000
/// concurrent clients) the count dominated. A total is reused while no device was
/// written through this store and for at most this long, which bounds how stale a total
/// can be when another SOTP process writes to the same PostgreSQL database.
pub(crate) const COUNT_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// Distinct filters whose totals are kept.
const COUNT_ENTRIES: usize = 1024;

/// The cache of list totals per filter (`crate::cache`).
pub(crate) fn count_cache() -> Cache<String, i64> {
    Cache::new(COUNT_TTL, COUNT_ENTRIES)
}

/// Fields a list may be sorted by (API name, column).
pub const SORT_FIELDS: &[(&str, &str)] = &[
    ("id", "id"),
    ("name", "name"),
    ("address", "address"),
    ("type", "device_type"),
    ("vendor", "vendor"),
    ("model", "model"),
    ("location", "location"),
    ("active", "active"),
    ("managed_by", "managed_by"),
    ("created_by", "created_by"),
    ("created_at", "created_at"),
    ("updated_at", "updated_at"),
];

/// What to list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeviceFilter {
    /// Page size (1 to 1000, default 50).
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
    /// Only active (true) or inactive (false) devices.
    pub active: Option<bool>,
    /// Exact device type.
    #[serde(rename = "type")]
    pub device_type: Option<String>,
    /// Exact vendor.
    pub vendor: Option<String>,
    /// Exact location.
    pub location: Option<String>,
    /// Devices carrying this tag.
    pub tag: Option<String>,
    /// Substring of the name or the address (case-insensitive).
    pub q: Option<String>,
    /// A field of [`SORT_FIELDS`], `-field` for descending. Default `name`.
    pub sort: Option<String>,
}

/// One page of devices.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DevicePage {
    /// The devices of this page.
    pub items: Vec<StoredDevice>,
    /// Devices matching the filters, over all pages.
    pub total: i64,
    /// Page size used.
    pub limit: i64,
    /// Offset used.
    pub offset: i64,
}

impl DeviceFilter {
    fn check(&self) -> Result<(i64, i64, &'static str, bool), InventoryError> {
        let mut errs = Vec::new();
        let limit = self.limit.unwrap_or(50);
        if !(1..=1000).contains(&limit) {
            errs.push(("limit", "must be between 1 and 1000".to_string()));
        }
        let offset = self.offset.unwrap_or(0);
        if offset < 0 {
            errs.push(("offset", "must not be negative".to_string()));
        }
        let sort = self.sort.as_deref().unwrap_or("name");
        let (desc, field) = sort.strip_prefix('-').map_or((false, sort), |f| (true, f));
        let column = SORT_FIELDS
            .iter()
            .find(|(n, _)| *n == field)
            .map(|(_, c)| *c);
        if column.is_none() {
            errs.push((
                "sort",
                format!(
                    "`{sort}`: use one of {} (prefix - for descending)",
                    SORT_FIELDS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if !errs.is_empty() {
            return Err(InventoryError::Validation(
                errs.into_iter()
                    .map(|(f, r)| crate::FieldError {
                        field: f.into(),
                        reason: r,
                    })
                    .collect(),
            ));
        }
        Ok((limit, offset, column.unwrap_or("name"), desc))
    }
}

/// The SQL of one page request: the `WHERE` clause with its arguments, the page query.
struct PageQuery {
    filter: String,
    args: Vec<String>,
    page_sql: String,
    limit: i64,
    offset: i64,
}

impl DeviceFilter {
    fn query(&self) -> Result<PageQuery, InventoryError> {
        let (limit, offset, column, desc) = self.check()?;
        let mut clauses = vec!["deleted_at IS NULL".to_string()];
        let mut args: Vec<String> = Vec::new();
        let mut arg = |v: String| {
            args.push(v);
            format!("${}", args.len())
        };
        if let Some(a) = self.active {
            clauses.push(format!("active = {}", i64::from(a)));
        }
        for (col, v) in [
            ("device_type", &self.device_type),
            ("vendor", &self.vendor),
            ("location", &self.location),
        ] {
            if let Some(v) = v {
                clauses.push(format!("{col} = {}", arg(v.clone())));
            }
        }
        if let Some(t) = &self.tag {
            let json = serde_json::to_string(t).unwrap_or_default();
            clauses.push(format!(
                "tags LIKE {} ESCAPE '\\'",
                arg(format!("%{}%", like_escape(&json)))
            ));
        }
        if let Some(q) = self.q.as_deref().filter(|q| !q.is_empty()) {
            let p = arg(format!("%{}%", like_escape(&q.to_lowercase())));
            clauses.push(format!(
                "(LOWER(name) LIKE {p} ESCAPE '\\' OR address LIKE {p} ESCAPE '\\')"
            ));
        }
        let filter = clauses.join(" AND ");
        let dir = if desc { "DESC" } else { "ASC" };
        let page_sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE {filter} ORDER BY {column} {dir}, id {dir} LIMIT {limit} OFFSET {offset}"
        );
        Ok(PageQuery {
            filter,
            args,
            page_sql,
            limit,
            offset,
        })
    }
}

/// A cache key: a statement and its arguments.
fn key(sql: &str, args: &[String]) -> String {
    std::iter::once(sql)
        .chain(args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("\u{0}")
}

impl Store {
    /// One page of live devices.
    pub async fn list_devices(&self, f: &DeviceFilter) -> Result<DevicePage, InventoryError> {
        self.read_page(&f.query()?).await
    }

    /// One page of live devices as the JSON body of `GET /api/v1/devices` (a
    /// serialised [`DevicePage`]). The body is reused until the next device write
    /// through this store and for 1 s at most (see `page_cache`).
    pub async fn list_devices_json(&self, f: &DeviceFilter) -> Result<Bytes, InventoryError> {
        // Keyed by the parameters themselves: a hit builds no SQL. Bad parameters are
        // refused before the cache is looked at.
        f.check()?;
        self.device_pages
            .get_or_load(f.clone(), || async {
                let page = self.read_page(&f.query()?).await?;
                let body = serde_json::to_vec(&page)
                    .map_err(|e| InventoryError::Database(sqlx::Error::Encode(Box::new(e))))?;
                Ok(Bytes::from(body))
            })
            .await
    }

    async fn read_page(&self, q: &PageQuery) -> Result<DevicePage, InventoryError> {
        let count_sql = format!("SELECT COUNT(*) FROM devices WHERE {}", q.filter);
        // The total is cached per filter until the next device write (see `COUNT_TTL`).
        let key = key(&count_sql, &q.args);
        let total = match self.device_counts.get(&key) {
            Some(total) => total,
            None => {
                let generation = self.device_counts.generation();
                let mut count = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql));
                for a in &q.args {
                    count = count.bind(a.clone());
                }
                let total = count.fetch_one(&self.pool).await?;
                self.device_counts.put(key, generation, total);
                total
            }
        };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(q.page_sql.clone()));
        for a in &q.args {
            query = query.bind(a.clone());
        }
        let rows = query.fetch_all(&self.pool).await?;
        let items = rows
            .iter()
            .map(record_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DevicePage {
            items,
            total,
            limit: q.limit,
            offset: q.offset,
        })
    }

    /// Every live device (for the `devices` SQL table and the collectors).
    pub async fn all_devices(&self) -> Result<Vec<StoredDevice>, InventoryError> {
        let sql =
            format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE deleted_at IS NULL ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(record_from_row).collect()
    }
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
