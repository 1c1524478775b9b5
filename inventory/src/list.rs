//! Listing devices: filters, search, sort and pagination with a total count.

use serde::{Deserialize, Serialize};

use crate::devices::{DEVICE_COLUMNS, record_from_row};
use crate::{DeviceRecord, InventoryError, Store};

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
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DevicePage {
    /// The devices of this page.
    pub items: Vec<DeviceRecord>,
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

impl Store {
    /// One page of live devices.
    pub async fn list_devices(&self, f: &DeviceFilter) -> Result<DevicePage, InventoryError> {
        let (limit, offset, column, desc) = f.check()?;
        let mut clauses = vec!["deleted_at IS NULL".to_string()];
        let mut args: Vec<String> = Vec::new();
        let mut arg = |v: String| {
            args.push(v);
            format!("${}", args.len())
        };
        if let Some(a) = f.active {
            clauses.push(format!("active = {}", i64::from(a)));
        }
        for (col, v) in [
            ("device_type", &f.device_type),
            ("vendor", &f.vendor),
            ("location", &f.location),
        ] {
            if let Some(v) = v {
                clauses.push(format!("{col} = {}", arg(v.clone())));
            }
        }
        if let Some(t) = &f.tag {
            let json = serde_json::to_string(t).unwrap_or_default();
            clauses.push(format!(
                "tags LIKE {} ESCAPE '\\'",
                arg(format!("%{}%", like_escape(&json)))
            ));
        }
        if let Some(q) = f.q.as_deref().filter(|q| !q.is_empty()) {
            let p = arg(format!("%{}%", like_escape(&q.to_lowercase())));
            clauses.push(format!(
                "(LOWER(name) LIKE {p} ESCAPE '\\' OR address LIKE {p} ESCAPE '\\')"
            ));
        }
        let filter = clauses.join(" AND ");
        let count_sql = format!("SELECT COUNT(*) FROM devices WHERE {filter}");
        // The total is cached per filter until the next device write (see count_cache).
        let key = std::iter::once(count_sql.as_str())
            .chain(args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("\u{0}");
        let total = match self.device_counts.get(&key) {
            Some(total) => total,
            None => {
                let generation = self.device_counts.generation();
                let mut count = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql));
                for a in &args {
                    count = count.bind(a.clone());
                }
                let total = count.fetch_one(&self.pool).await?;
                self.device_counts.put(key, generation, total);
                total
            }
        };
        let dir = if desc { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE {filter} ORDER BY {column} {dir}, id {dir} LIMIT {limit} OFFSET {offset}"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in &args {
            q = q.bind(a.clone());
        }
        let rows = q.fetch_all(&self.pool).await?;
        let items = rows
            .iter()
            .map(record_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DevicePage {
            items,
            total,
            limit,
            offset,
        })
    }

    /// Every live device (for the `devices` SQL table and the collectors).
    pub async fn all_devices(&self) -> Result<Vec<DeviceRecord>, InventoryError> {
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
