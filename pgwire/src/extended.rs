//! The extended query protocol (Parse, Bind, Describe, Execute, Sync): what pgx sends by
//! default, JDBC, asyncpg, and psycopg for a query with parameters. A statement is
//! planned at Parse for the caller's tables, so Describe answers with its parameter and
//! result types; at Execute its `$n` values are bound into the plan (never spliced into
//! the SQL text) and each result column travels in the format the client asked for,
//! text or PostgreSQL's binary send format.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::api::stmt::QueryParser;
use pgwire::api::{ClientInfo, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use sotp_query::{Caller, QueryEngine};

use super::text::{self, PG_EPOCH_DAYS, PG_EPOCH_MICROS, PgColumn};
use super::{Kind, Login, catalog, kind, pg_error, query_error, statements};

/// A parsed statement: its SQL, what it returns, and its parameters.
#[derive(Clone, Debug)]
pub(crate) struct Prepared {
    pub(crate) sql: String,
    /// Names and kinds of the result columns; empty for a statement without rows.
    pub(crate) columns: Vec<(String, PgColumn)>,
    /// The type of each `$n` as described: the client's, else the one the plan needs.
    pub(crate) params: Vec<Type>,
    /// The Arrow type each `$n` is bound as (none: as text).
    pub(crate) param_types: Vec<Option<DataType>>,
}

impl Prepared {
    /// The RowDescription of its columns in `format` (text when not bound yet).
    pub(crate) fn fields(&self, format: Option<&Format>) -> Arc<Vec<FieldInfo>> {
        let names: Vec<&str> = self.columns.iter().map(|(n, _)| n.as_str()).collect();
        let kinds: Vec<PgColumn> = self.columns.iter().map(|(_, k)| k.clone()).collect();
        text::described(&names, &kinds, |i| {
            format.map_or(FieldFormat::Text, |f| f.format_for(i))
        })
    }

    /// The kinds of its result columns.
    pub(crate) fn kinds(&self) -> Vec<PgColumn> {
        self.columns.iter().map(|(_, k)| k.clone()).collect()
    }
}

fn user(e: ErrorInfo) -> PgWireError {
    PgWireError::UserError(Box::new(e))
}

/// Plans statements at Parse.
#[derive(Debug)]
pub(crate) struct Parser {
    pub(crate) engine: QueryEngine,
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let login = client
            .session_extensions()
            .get::<Arc<Login>>()
            .ok_or(PgWireError::NotReadyForQuery)?;
        match statements(sql).len() {
            0 => return Ok(None),
            1 => {}
            _ => {
                return Err(user(pg_error(
                    "42601",
                    "cannot insert multiple commands into a prepared statement",
                )));
            }
        }
        let tables = login.principal.role.sql_tables();
        let text_column = |name: &str| (name.to_string(), PgColumn::of(&DataType::Utf8));
        let (columns, inferred) = match kind(sql) {
            Kind::Show(var) => (
                vec![text_column(&var.trim_matches('"').to_ascii_lowercase())],
                vec![],
            ),
            Kind::Sql => match catalog::answer(sql, &self.engine.table_schemas(Some(tables))) {
                Some(a) => (a.columns.iter().map(|c| text_column(c)).collect(), vec![]),
                None => {
                    let caller = Caller {
                        user: Some(&login.principal.actor),
                        tables: Some(tables),
                    };
                    let (schema, params) = self
                        .engine
                        .describe_for(caller, sql)
                        .await
                        .map_err(|e| user(query_error(&e)))?;
                    let columns = schema
                        .fields()
                        .iter()
                        .map(|f| (f.name().clone(), PgColumn::of(f.data_type())))
                        .collect();
                    (columns, params)
                }
            },
            _ => (vec![], vec![]),
        };
        let n = types.len().max(inferred.len());
        let (mut params, mut param_types) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..n {
            let given = types
                .get(i)
                .cloned()
                .flatten()
                .filter(|t| *t != Type::UNKNOWN && t.oid() != 0);
            let needed = inferred.get(i).cloned().flatten();
            params.push(
                given
                    .clone()
                    .or_else(|| needed.as_ref().map(|d| PgColumn::of(d).pg))
                    .unwrap_or(Type::TEXT),
            );
            param_types.push(needed.or_else(|| given.as_ref().and_then(arrow_of)));
        }
        Ok(Some(Prepared {
            sql: sql.to_string(),
            columns,
            params,
            param_types,
        }))
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(stmt.params.clone())
    }

    fn get_result_schema(
        &self,
        stmt: &Prepared,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(stmt.fields(format).as_ref().clone())
    }
}

/// The Arrow type a parameter of a PostgreSQL type is bound as.
fn arrow_of(t: &Type) -> Option<DataType> {
    Some(match *t {
        Type::BOOL => DataType::Boolean,
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 => DataType::Int64,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 | Type::NUMERIC => DataType::Float64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DataType::Utf8,
        Type::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        Type::DATE => DataType::Date32,
        Type::BYTEA => DataType::Binary,
        _ => return None,
    })
}

/// The values of a portal's parameters, each as the plan needs it.
pub(crate) fn bind(portal: &Portal<Prepared>) -> Result<Vec<ScalarValue>, Box<ErrorInfo>> {
    let stmt = &portal.statement.statement;
    portal
        .parameters
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let pg = stmt.params.get(i).cloned().unwrap_or(Type::TEXT);
            let want = stmt.param_types.get(i).cloned().flatten();
            let binary = portal.parameter_format.is_binary(i);
            let bad =
                |why: String| Box::new(pg_error("22P02", format!("parameter ${}: {why}", i + 1)));
            let value = decode(raw.as_ref(), binary, &pg, want.as_ref()).map_err(bad)?;
            match want {
                Some(dt) if value.data_type() != dt => value
                    .cast_to(&dt)
                    .map_err(|e| bad(format!("not a valid {}: {e}", pg.name()))),
                _ => Ok(value),
            }
        })
        .collect()
}

fn decode(
    raw: Option<&Bytes>,
    binary: bool,
    pg: &Type,
    want: Option<&DataType>,
) -> Result<ScalarValue, String> {
    let target = want
        .cloned()
        .or_else(|| arrow_of(pg))
        .unwrap_or(DataType::Utf8);
    let Some(raw) = raw else {
        return ScalarValue::try_from(&target).map_err(|e| e.to_string());
    };
    if !binary {
        let s = std::str::from_utf8(raw).map_err(|_| "not UTF-8 text".to_string())?;
        return ScalarValue::try_from_string(s.to_string(), &target)
            .map_err(|e| format!("`{s}` is not a valid {}: {e}", pg.name()));
    }
    let fixed = |n: usize| -> Result<&[u8], String> {
        if raw.len() == n {
            Ok(raw.as_ref())
        } else {
            Err(format!(
                "{} bytes for a binary {}, expected {n}",
                raw.len(),
                pg.name()
            ))
        }
    };
    Ok(match *pg {
        Type::BOOL => ScalarValue::Boolean(Some(fixed(1)?[0] != 0)),
        Type::INT2 => ScalarValue::Int16(Some(i16::from_be_bytes(array(fixed(2)?)))),
        Type::INT4 => ScalarValue::Int32(Some(i32::from_be_bytes(array(fixed(4)?)))),
        Type::INT8 => ScalarValue::Int64(Some(i64::from_be_bytes(array(fixed(8)?)))),
        Type::FLOAT4 => ScalarValue::Float32(Some(f32::from_be_bytes(array(fixed(4)?)))),
        Type::FLOAT8 => ScalarValue::Float64(Some(f64::from_be_bytes(array(fixed(8)?)))),
        Type::TIMESTAMPTZ | Type::TIMESTAMP => {
            let micros = i64::from_be_bytes(array(fixed(8)?)) + PG_EPOCH_MICROS;
            let zone = (*pg == Type::TIMESTAMPTZ).then(|| "UTC".into());
            ScalarValue::TimestampMicrosecond(Some(micros), zone)
        }
        Type::DATE => {
            ScalarValue::Date32(Some(i32::from_be_bytes(array(fixed(4)?)) + PG_EPOCH_DAYS))
        }
        Type::BYTEA => ScalarValue::Binary(Some(raw.to_vec())),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            let s = std::str::from_utf8(raw).map_err(|_| "not UTF-8 text".to_string())?;
            ScalarValue::Utf8(Some(s.to_string()))
        }
        _ => {
            return Err(format!(
                "binary {} parameters are not supported; send it in the text format",
                pg.name()
            ));
        }
    })
}

fn array<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(b);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_and_text_parameters_decode_to_the_plans_types() {
        let b = |v: &[u8]| Bytes::copy_from_slice(v);
        let i8 = decode(Some(&b(&42i64.to_be_bytes())), true, &Type::INT8, None).unwrap();
        assert_eq!(i8, ScalarValue::Int64(Some(42)));
        // One second after 2000-01-01, PostgreSQL's epoch.
        let ts = decode(
            Some(&b(&1_000_000i64.to_be_bytes())),
            true,
            &Type::TIMESTAMPTZ,
            None,
        )
        .unwrap();
        assert_eq!(
            ts,
            ScalarValue::TimestampMicrosecond(Some(946_684_801_000_000), Some("UTC".into()))
        );
        let text = decode(
            Some(&b(b"2.5")),
            false,
            &Type::TEXT,
            Some(&DataType::Float64),
        )
        .unwrap();
        assert_eq!(text, ScalarValue::Float64(Some(2.5)));
        let null = decode(None, false, &Type::INT4, None).unwrap();
        assert_eq!(null, ScalarValue::Int32(None));
        let short = decode(Some(&b(&[0, 1])), true, &Type::INT8, None).unwrap_err();
        assert!(
            short.contains("2 bytes") && short.contains("int8"),
            "{short}"
        );
        let bad = decode(Some(&b(b"ten")), false, &Type::INT8, None).unwrap_err();
        assert!(bad.contains("`ten`"), "{bad}");
    }
}
