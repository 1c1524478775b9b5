//! Catalog questions that clients ask in PostgreSQL's own dialect and DataFusion cannot
//! plan: Grafana's query builder (its `information_schema` look-ups built on
//! `string_to_array(current_setting('search_path'), ',')` and `parse_ident`, and the
//! TimescaleDB check on `pg_extension`) and psql's `\dt` and `\d TABLE` (`pg_class`,
//! `pg_attribute`, regex operators). Each is recognised by a fingerprint of the text
//! (whitespace and case folded) and answered from the tables the caller may read, with
//! PostgreSQL type names. Anything else goes to the engine unchanged.

use arrow::datatypes::SchemaRef;
use regex::Regex;
use sotp_query::pg::quote_ident;

use super::text::PgColumn;

/// An answer made here: column names, then rows of text values.
#[derive(Debug, PartialEq)]
pub(crate) struct Answer {
    pub(crate) columns: Vec<&'static str>,
    pub(crate) rows: Vec<Vec<Option<String>>>,
}

/// The first OID given to SOTP's tables (PostgreSQL's first user OID).
const FIRST_OID: usize = 16384;

/// The answer to `sql` when it is one of the known catalog questions; `tables` are the
/// caller's readable tables, in a stable order, with their schemas.
pub(crate) fn answer(sql: &str, tables: &[(String, SchemaRef)]) -> Option<Answer> {
    let q = normalise(sql);
    let has = |s: &str| q.contains(s);
    // Grafana: TimescaleDB version check. None here, so `time_bucket` is never used.
    if has("from pg_extension") {
        return Some(Answer {
            columns: vec!["extversion"],
            rows: vec![],
        });
    }
    // Grafana: the table list of the query builder.
    if has("from information_schema.tables") && has("quote_ident(table_schema)") {
        return Some(Answer {
            columns: vec![if has("as \"table\"") {
                "table"
            } else {
                "table_name"
            }],
            rows: tables
                .iter()
                .map(|(t, _)| vec![Some(quote_ident(t))])
                .collect(),
        });
    }
    // Grafana: the columns of one table, for the query builder.
    if has("from information_schema.columns") && has("parse_ident(") {
        let re = Regex::new(r"parse_ident\('((?:[^']|'')*)'\)").ok()?;
        let name = re
            .captures(&q)
            .map(|c| c[1].replace("''", "'"))
            .unwrap_or_default();
        let name = name.trim_start_matches("public.").trim_matches('"');
        return Some(Answer {
            columns: vec!["column", "type"],
            rows: columns_of(tables, name)
                .map(|(c, kind)| vec![Some(quote_ident(&c)), Some(kind.type_name().into())])
                .collect(),
        });
    }
    // psql `\d` and `\dt`: the relation list.
    if has("from pg_catalog.pg_class c") && has("c.relkind in (") && has("as \"schema\"") {
        return Some(Answer {
            columns: vec!["Schema", "Name", "Type", "Owner"],
            rows: tables
                .iter()
                .map(|(t, _)| {
                    vec![
                        Some("public".into()),
                        Some(t.clone()),
                        Some("table".into()),
                        Some("sotp".into()),
                    ]
                })
                .collect(),
        });
    }
    // psql `\d TABLE`, first: the table's OID from a regex over its name.
    if has("operator(pg_catalog.~) '^(") && has("from pg_catalog.pg_class c") {
        let re = Regex::new(r"operator\(pg_catalog\.~\) '\^\((.*?)\)\$'").ok()?;
        let pattern = re
            .captures(&q)
            .map(|c| c[1].to_string())
            .unwrap_or_default();
        let matcher = Regex::new(&format!("^({pattern})$")).ok()?;
        return Some(Answer {
            columns: vec!["oid", "nspname", "relname"],
            rows: tables
                .iter()
                .enumerate()
                .filter(|(_, (t, _))| matcher.is_match(t))
                .map(|(i, (t, _))| {
                    vec![
                        Some((FIRST_OID + i).to_string()),
                        Some("public".into()),
                        Some(t.clone()),
                    ]
                })
                .collect(),
        });
    }
    let oid = || -> Option<usize> {
        let re = Regex::new(r"(?:c\.oid|a\.attrelid) = '(\d+)'").ok()?;
        re.captures(&q)?[1]
            .parse::<usize>()
            .ok()?
            .checked_sub(FIRST_OID)
            .filter(|i| *i < tables.len())
    };
    // psql `\d TABLE`, second: what kind of relation it is (a plain table, no index,
    // rule or trigger, so psql asks for no more than the columns).
    if has("from pg_catalog.pg_class c") && has("c.relchecks") {
        let columns = vec![
            "relchecks",
            "relkind",
            "relhasindex",
            "relhasrules",
            "relhastriggers",
            "relrowsecurity",
            "relforcerowsecurity",
            "relhasoids",
            "relispartition",
            "?column?",
            "reltablespace",
            "reloftype",
            "relpersistence",
            "relreplident",
            "amname",
        ];
        let row = [
            "0", "r", "f", "f", "f", "f", "f", "f", "f", "", "0", "", "p", "d",
        ]
        .into_iter()
        .map(|v| Some(v.to_string()))
        .chain([None])
        .collect();
        return Some(Answer {
            columns,
            rows: oid().map(|_| vec![row]).unwrap_or_default(),
        });
    }
    // psql `\d TABLE`, third: the columns with their types.
    if has("from pg_catalog.pg_attribute a") && has("a.attrelid = '") {
        let rows = match oid() {
            Some(i) => tables[i]
                .1
                .fields()
                .iter()
                .map(|f| {
                    let kind = PgColumn::of(f.data_type());
                    vec![
                        Some(f.name().clone()),
                        Some(kind.type_name().into()),
                        None,
                        Some(if f.is_nullable() { "f" } else { "t" }.into()),
                        None,
                        Some(String::new()),
                        Some(String::new()),
                    ]
                })
                .collect(),
            None => vec![],
        };
        return Some(Answer {
            columns: vec![
                "attname",
                "format_type",
                "pg_get_expr",
                "attnotnull",
                "attcollation",
                "attidentity",
                "attgenerated",
            ],
            rows,
        });
    }
    // psql `\d TABLE`, the footers (policies, statistics, publications, parents,
    // partitions, indexes, constraints, triggers), and any other question about
    // PostgreSQL's own catalog: SOTP has none of these, so the answer is no rows.
    if has("pg_catalog.pg_") || has("from pg_") {
        return Some(Answer {
            columns: vec!["?column?"],
            rows: vec![],
        });
    }
    None
}

/// The columns of table `name` (if readable) with their PostgreSQL form.
fn columns_of<'a>(
    tables: &'a [(String, SchemaRef)],
    name: &str,
) -> impl Iterator<Item = (String, PgColumn)> + 'a {
    let schema = tables
        .iter()
        .find(|(t, _)| t == name)
        .map(|(_, s)| s.clone());
    schema.into_iter().flat_map(|s| {
        s.fields()
            .iter()
            .map(|f| (f.name().clone(), PgColumn::of(f.data_type())))
            .collect::<Vec<_>>()
    })
}

/// Lower case, every run of whitespace one space, no space just inside parentheses.
fn normalise(sql: &str) -> String {
    let lower = sql.to_lowercase();
    let mut out = String::with_capacity(lower.len());
    for word in lower.split_whitespace() {
        if !out.is_empty() && !out.ends_with('(') && !word.starts_with(')') {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests;
