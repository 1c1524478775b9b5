use super::*;

#[test]
fn pings_and_lone_semicolons_are_empty_queries() {
    // pgx's Ping (Grafana 12.4+) and lib/pq's (older Grafana).
    assert!(statements("-- ping").is_empty());
    assert!(statements(";").is_empty());
    assert!(statements("/* a */ -- b\n ;").is_empty());
    assert_eq!(statements("SELECT 1"), ["SELECT 1"]);
    assert_eq!(statements("SELECT 1; SELECT 2").len(), 2);
}

#[test]
fn statements_are_told_apart_by_their_first_words() {
    assert_eq!(kind("BEGIN"), Kind::Begin);
    assert_eq!(kind("begin isolation level read committed"), Kind::Begin);
    assert_eq!(kind("START TRANSACTION READ ONLY"), Kind::Begin);
    assert_eq!(kind("COMMIT"), Kind::Commit);
    assert_eq!(kind("ROLLBACK"), Kind::Rollback);
    assert_eq!(kind("SET extra_float_digits = 3"), Kind::Set);
    assert_eq!(kind("SHOW TimeZone"), Kind::Show("TimeZone"));
    assert_eq!(
        kind("show transaction isolation level;"),
        Kind::Show("transaction isolation level")
    );
    assert_eq!(kind("SHOW TABLES"), Kind::Sql);
    assert_eq!(kind("-- a comment\nSELECT 1"), Kind::Sql);
    assert_eq!(kind("DEALLOCATE ALL"), Kind::Noop("DEALLOCATE"));
}

#[test]
fn limits_map_to_sqlstates_that_say_cancelled_not_wrong() {
    let code = |e: QueryError| query_error(&e).code;
    assert_eq!(code(QueryError::TimeLimit("30s".into())), "57014");
    assert_eq!(code(QueryError::ResultLimit(256)), "53200");
    assert_eq!(code(QueryError::RowLimit(10)), "54000");
    assert_eq!(code(QueryError::Busy("wait".into())), "53300");
    assert_eq!(code(QueryError::Refused("audit".into())), "42501");
    assert_eq!(
        code(QueryError::Invalid(
            "Error during planning: table 'datafusion.public.nope' not found".into()
        )),
        "42P01"
    );
}
