//! What PostgreSQL clients ask a server about itself: its settings (`SHOW x`,
//! `current_setting('x')`) and the few functions that Grafana's PostgreSQL data source
//! and psql put into SQL (`current_setting`, `quote_ident`, `current_database`,
//! `current_schema`). SOTP answers as a read-only PostgreSQL 16 in UTC would. The SQL
//! functions are registered in every query session, so they work over HTTP too.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

/// The PostgreSQL version SOTP reports (`server_version`): psql and drivers read the
/// major version from it.
pub const SERVER_VERSION: &str = "16.6";

/// `server_version_num` of [`SERVER_VERSION`].
pub const SERVER_VERSION_NUM: &str = "160006";

/// The settings SOTP reports, by lower-case name.
const SETTINGS: &[(&str, &str)] = &[
    ("server_version", SERVER_VERSION),
    ("server_version_num", SERVER_VERSION_NUM),
    ("server_encoding", "UTF8"),
    ("client_encoding", "UTF8"),
    ("datestyle", "ISO, MDY"),
    ("intervalstyle", "postgres"),
    ("timezone", "UTC"),
    ("integer_datetimes", "on"),
    ("standard_conforming_strings", "on"),
    ("search_path", "public"),
    ("transaction_isolation", "read committed"),
    ("default_transaction_read_only", "on"),
    ("transaction_read_only", "on"),
    ("is_superuser", "off"),
    ("max_identifier_length", "63"),
    ("extra_float_digits", "1"),
    ("bytea_output", "hex"),
    ("lc_messages", "C"),
    ("statement_timeout", "0"),
];

/// The value of setting `name` (any case; `time zone` and `transaction isolation level`
/// as `SHOW` spells them), or none for a setting SOTP does not have.
pub fn setting(name: &str) -> Option<&'static str> {
    let name = name.trim().trim_matches('"').to_ascii_lowercase();
    let name = match name.as_str() {
        "time zone" => "timezone",
        "transaction isolation level" => "transaction_isolation",
        other => other,
    };
    SETTINGS.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

/// `quote_ident`: the identifier as PostgreSQL would write it in SQL, quoted only when
/// it needs to be.
pub fn quote_ident(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain && !RESERVED.contains(&s) {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

/// Key words `quote_ident` quotes in PostgreSQL 16: the reserved ones, and those that
/// cannot name a column or a function without quotes (`time`, `timestamp`, `user`, ...).
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "nullif",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

/// The SQL functions above, for a query session.
pub fn functions() -> Vec<ScalarUDF> {
    vec![
        text_function("current_setting", |name| {
            setting(name).map(str::to_string).ok_or_else(|| {
                DataFusionError::Plan(format!("unrecognized configuration parameter \"{name}\""))
            })
        }),
        text_function("quote_ident", |s| Ok(quote_ident(s))),
        constant("current_database", "sotp"),
        constant("current_schema", "public"),
    ]
}

/// A function of one text argument returning text (NULL in, NULL out).
fn text_function(
    name: &'static str,
    f: impl Fn(&str) -> Result<String, DataFusionError> + Send + Sync + 'static,
) -> ScalarUDF {
    create_udf(
        name,
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| match &args[0] {
            ColumnarValue::Scalar(v) => {
                let s = match v {
                    ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => {
                        s.as_deref().map(&f).transpose()?
                    }
                    ScalarValue::Null => None,
                    other => Some(f(&other.to_string())?),
                };
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(s)))
            }
            ColumnarValue::Array(a) => {
                let a = datafusion::arrow::compute::cast(a, &DataType::Utf8)?;
                let a = a
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| DataFusionError::Internal(format!("{name}: not text")))?;
                let out: StringArray = a
                    .iter()
                    .map(|s| s.map(&f).transpose())
                    .collect::<Result<_, _>>()?;
                Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
            }
        }),
    )
}

/// A function of no arguments returning `value`.
fn constant(name: &'static str, value: &'static str) -> ScalarUDF {
    create_udf(
        name,
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(value.into()))))
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_answer_in_any_case_and_unknown_ones_are_none() {
        assert_eq!(setting("server_version_num"), Some("160006"));
        assert_eq!(setting("TimeZone"), Some("UTC"));
        assert_eq!(setting("time zone"), Some("UTC"));
        assert_eq!(setting("DateStyle"), Some("ISO, MDY"));
        assert_eq!(setting("no_such_thing"), None);
    }

    #[test]
    fn quote_ident_quotes_only_what_needs_it() {
        assert_eq!(quote_ident("metrics"), "metrics");
        assert_eq!(quote_ident("metrics_1m"), "metrics_1m");
        assert_eq!(quote_ident("Metrics"), "\"Metrics\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("1m"), "\"1m\"");
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(quote_ident("time"), "\"time\"");
        assert_eq!(quote_ident("value"), "value");
        assert_eq!(quote_ident(""), "\"\"");
    }
}
