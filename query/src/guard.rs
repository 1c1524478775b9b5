//! Decides, before planning, whether a SQL text is a read-only query.
//!
//! Allowed: one `SELECT`/`WITH`/`VALUES` query, `EXPLAIN` of one, and `SHOW`/`DESCRIBE`.
//! Everything else (DDL, DML, `COPY`, `CREATE EXTERNAL TABLE`, `SET`, transactions,
//! several statements) is refused with the statement's kind in the message. Planning then
//! runs with DDL, DML and statements disabled as a second line of defence, and no
//! file-reading table function or URL table is registered in the session.

use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use datafusion::sql::sqlparser::dialect::GenericDialect;

use crate::QueryError;

/// Checks that `sql` is exactly one read-only statement.
pub fn check_statement(sql: &str) -> Result<(), QueryError> {
    let statements = DFParser::parse_sql_with_dialect(sql, &GenericDialect {})
        .map_err(|e| QueryError::Invalid(e.to_string()))?;
    match statements.len() {
        0 => return Err(QueryError::Invalid("no SQL statement given".into())),
        1 => {}
        n => {
            return Err(QueryError::Refused(format!(
                "one statement per request, got {n}"
            )));
        }
    }
    match &statements[0] {
        Statement::Statement(s) => check_sql(s),
        Statement::Explain(e) => match e.statement.as_ref() {
            Statement::Statement(s) => check_sql(s),
            other => Err(refused(kind_of(other))),
        },
        other => Err(refused(kind_of(other))),
    }
}

fn check_sql(s: &SqlStatement) -> Result<(), QueryError> {
    match s {
        SqlStatement::Query(_)
        | SqlStatement::ShowTables { .. }
        | SqlStatement::ShowColumns { .. }
        | SqlStatement::ExplainTable { .. } => Ok(()),
        SqlStatement::Explain {
            statement,
            analyze: _,
            ..
        } => check_sql(statement),
        other => {
            let text = other.to_string();
            let kind: String = text
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_uppercase();
            Err(refused(&kind))
        }
    }
}

fn kind_of(s: &Statement) -> &'static str {
    match s {
        Statement::CreateExternalTable(_) => "CREATE EXTERNAL TABLE",
        Statement::CopyTo(_) => "COPY",
        Statement::Explain(_) => "EXPLAIN",
        Statement::Reset(_) => "RESET",
        Statement::Statement(_) => "statement",
    }
}

fn refused(kind: &str) -> QueryError {
    QueryError::Refused(format!(
        "only read-only queries are allowed (SELECT, WITH, EXPLAIN, SHOW); `{kind}` is refused"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_and_refused_statements() {
        let allowed = [
            "SELECT 1",
            "select * from metrics where metric = 'icmp.up' limit 5",
            "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
            "EXPLAIN SELECT count(*) FROM metrics",
            "EXPLAIN ANALYZE SELECT 1",
            "SHOW TABLES",
            "SHOW COLUMNS FROM metrics",
            "VALUES (1), (2)",
            "SELECT 1;",
        ];
        for sql in allowed {
            assert!(
                check_statement(sql).is_ok(),
                "{sql}: {:?}",
                check_statement(sql)
            );
        }
        let refused = [
            ("CREATE TABLE t (a INT)", "CREATE TABLE"),
            (
                "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/etc/'",
                "CREATE EXTERNAL TABLE",
            ),
            ("COPY (SELECT 1) TO '/tmp/x.csv'", "COPY"),
            ("INSERT INTO metrics VALUES (1)", "INSERT INTO"),
            ("DELETE FROM metrics", "DELETE FROM"),
            ("UPDATE metrics SET value = 0", "UPDATE METRICS"),
            ("DROP TABLE metrics", "DROP TABLE"),
            ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
            ("SET datafusion.execution.batch_size = 1", "SET"),
            ("EXPLAIN CREATE TABLE t (a INT)", "CREATE TABLE"),
            ("EXPLAIN COPY (SELECT 1) TO '/tmp/x'", "COPY"),
            ("SELECT 1; DROP TABLE metrics", "one statement per request"),
            ("BEGIN", "BEGIN"),
        ];
        for (sql, kind) in refused {
            match check_statement(sql) {
                Err(QueryError::Refused(m)) => assert!(m.contains(kind), "{sql}: {m}"),
                other => panic!("{sql} should be refused, got {other:?}"),
            }
        }
        for sql in ["", "SELEKT 1", "SELECT * FROM"] {
            assert!(
                matches!(check_statement(sql), Err(QueryError::Invalid(_))),
                "{sql}"
            );
        }
    }
}
