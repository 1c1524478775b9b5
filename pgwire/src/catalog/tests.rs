use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use super::*;

fn tables() -> Vec<(String, SchemaRef)> {
    let metrics = Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        Field::new("device", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]);
    let logs = Schema::new(vec![Field::new("message", DataType::Utf8, true)]);
    vec![
        ("logs".into(), Arc::new(logs)),
        ("metrics".into(), Arc::new(metrics)),
    ]
}

/// `getSchema(table)` of Grafana's `postgresMetaQuery.ts`, with the schema constraint.
const GRAFANA_COLUMNS: &str = r#"SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('metrics'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('metrics'))[1]
          AND quote_ident(table_name) = (parse_ident('metrics'))[2]
        ELSE quote_ident(table_name) = 'metrics'
          AND 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      END"#;

#[test]
fn grafanas_column_lookup_gets_postgresql_type_names() {
    let a = answer(GRAFANA_COLUMNS, &tables()).unwrap();
    assert_eq!(a.columns, ["column", "type"]);
    let rows: Vec<(String, String)> = a
        .rows
        .into_iter()
        .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [
            (
                "\"time\"".to_string(),
                "timestamp with time zone".to_string()
            ),
            ("device".into(), "text".into()),
            ("value".into(), "double precision".into()),
        ]
    );
}

#[test]
fn a_table_the_caller_cannot_read_has_no_columns_and_plain_sql_is_not_taken() {
    let only_logs = &tables()[..1];
    let a = answer(GRAFANA_COLUMNS, only_logs).unwrap();
    assert!(a.rows.is_empty());
    assert_eq!(
        answer(
            "SELECT table_name FROM information_schema.tables",
            &tables()
        ),
        None
    );
    assert_eq!(answer("SELECT * FROM metrics", &tables()), None);
}

#[test]
fn psql_describe_finds_the_table_by_regex_then_its_columns() {
    let first = "SELECT c.oid,\n  n.nspname,\n  c.relname\nFROM pg_catalog.pg_class c\n     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\nWHERE c.relname OPERATOR(pg_catalog.~) '^(metrics)$' COLLATE pg_catalog.default\n  AND pg_catalog.pg_table_is_visible(c.oid)\nORDER BY 2, 3;";
    let a = answer(first, &tables()).unwrap();
    assert_eq!(
        a.rows,
        [[
            Some("16385".into()),
            Some("public".into()),
            Some("metrics".into())
        ]]
    );
    let cols = "SELECT a.attname,\n  pg_catalog.format_type(a.atttypid, a.atttypmod)\nFROM pg_catalog.pg_attribute a\nWHERE a.attrelid = '16385' AND a.attnum > 0 AND NOT a.attisdropped\nORDER BY a.attnum;";
    let a = answer(cols, &tables()).unwrap();
    assert_eq!(a.rows.len(), 3);
    assert_eq!(a.rows[0][0].as_deref(), Some("time"));
    assert_eq!(a.rows[0][3].as_deref(), Some("t"), "time is NOT NULL");
    let unknown = cols.replace("16385", "99999");
    assert!(answer(&unknown, &tables()).unwrap().rows.is_empty());
}
