//! The PostgreSQL wire protocol: psql, psycopg, pgx and Grafana's built-in PostgreSQL
//! data source query SOTP as if it were a read-only PostgreSQL 16 in UTC.
//!
//! The same engine, tables, roles and limits as `POST /api/v1/query` ([`QueryEngine::
//! execute_for`] with the caller's readable tables), the same login
//! ([`Control::authorize`]); only the encoding differs ([`text`]: PostgreSQL's text
//! output, byte for byte where drivers parse strictly). Built on the `pgwire` crate
//! directly rather than `datafusion-postgres`: that crate pins an older `pgwire` without
//! the authentication hooks an argon2-hashed password or an API token needs, brings
//! DataFusion's default features (compression codecs built from C) into every build,
//! and owns the listener and the login, which here belong to SOTP.
//!
//! Both protocols: simple queries (what Grafana, psql and psycopg without parameters
//! send) and the extended protocol ([`extended`]: prepared statements with `$n`
//! parameters bound into the plan, results in text or binary; what pgx, JDBC and
//! asyncpg send). A cancel request (psql's Ctrl-C, `pg_cancel_backend` from a driver)
//! stops the running query. Transactions are accepted and mean nothing (every query reads);
//! `SET` is accepted and ignored (SOTP answers in UTC, ISO dates); `SHOW` answers from
//! [`sotp_query::pg::setting`].
//!
//! A crate of its own rather than a module of `sotp-server`: pgwire's protocol code is
//! generic over the handlers and compiles here, about 40 s of a clean debug build, which
//! now runs beside the HTTP server's instead of after it.

mod catalog;
mod extended;
mod login;
mod text;

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::ScalarValue;
use futures::{Sink, StreamExt, stream};
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldFormat, QueryResponse, Response, Tag};
use pgwire::api::{ClientInfo, ClientPortalStore, ConnectionManager, PgWireServerHandlers};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use serde::Deserialize;
use sotp_query::{Caller, QueryEngine, QueryError};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use login::{Login, Startup};
use sotp_server::{Control, Credential};

pub use sotp_query::pg::SERVER_VERSION;

/// `[pgwire]`: the PostgreSQL-wire front door.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PgwireConfig {
    /// `HOST:PORT` to listen on; `""` turns the front door off.
    pub listen: String,
    /// PEM certificate chain for TLS (`sslmode=require`); empty: no TLS, and then
    /// passwords are taken only from loopback connections.
    pub tls_cert: String,
    /// PEM private key of `tls_cert`.
    pub tls_key: String,
    /// Connections served at once; more are refused.
    pub max_connections: usize,
}

impl Default for PgwireConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:5432".into(),
            tls_cert: String::new(),
            tls_key: String::new(),
            max_connections: 256,
        }
    }
}

/// Why the front door could not start.
#[derive(Debug, thiserror::Error)]
pub enum PgwireError {
    /// The address is taken or not valid.
    #[error("[pgwire] listen {listen}: {source}; set another port, or \"\" to turn it off")]
    Bind {
        /// The configured address.
        listen: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS files are missing or not valid.
    #[error(transparent)]
    Tls(#[from] sotp_tls::TlsError),
}

/// A bound PostgreSQL-wire listener.
pub struct PgwireServer {
    listener: TcpListener,
    tls: Option<sotp_tls::TlsAcceptor>,
    handlers: Arc<Handlers>,
    max_connections: usize,
}

impl std::fmt::Debug for PgwireServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgwireServer")
            .field("listen", &self.listener.local_addr().ok())
            .field("tls", &self.tls.is_some())
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl PgwireServer {
    /// Binds `config.listen` and loads the TLS files; `Ok(None)` when turned off.
    pub async fn bind(
        config: &PgwireConfig,
        engine: QueryEngine,
        control: Control,
    ) -> Result<Option<Self>, PgwireError> {
        if config.listen.trim().is_empty() {
            return Ok(None);
        }
        let tls = if config.tls_cert.is_empty() {
            None
        } else {
            let mut server = sotp_tls::PemFiles {
                section: "pgwire",
                cert: &config.tls_cert,
                key: &config.tls_key,
                client_ca: "",
            }
            .server_config()?;
            // PostgreSQL 17's direct TLS needs this protocol name.
            server.alpn_protocols = vec![b"postgresql".to_vec()];
            Some(sotp_tls::TlsAcceptor::from(Arc::new(server)))
        };
        let listener =
            TcpListener::bind(&config.listen)
                .await
                .map_err(|source| PgwireError::Bind {
                    listen: config.listen.clone(),
                    source,
                })?;
        let connections = Arc::new(ConnectionManager::new());
        Ok(Some(Self {
            listener,
            tls,
            handlers: Arc::new(Handlers {
                startup: Arc::new(Startup::new(control.clone(), connections.clone())),
                queries: Arc::new(Queries {
                    parser: Arc::new(extended::Parser {
                        engine: engine.clone(),
                    }),
                    engine,
                    control,
                }),
                connections,
            }),
            max_connections: config.max_connections.max(1),
        }))
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves connections until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        let slots = Arc::new(tokio::sync::Semaphore::new(self.max_connections));
        tracing::info!(
            listen = %self.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            tls = self.tls.is_some(),
            "PostgreSQL wire listening"
        );
        loop {
            let (socket, peer) = tokio::select! {
                _ = stop.cancelled() => return,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "PostgreSQL wire: accept failed");
                        continue;
                    }
                },
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "PostgreSQL wire: connection limit reached, refused");
                drop(socket);
                continue;
            };
            let (tls, handlers, stop) = (self.tls.clone(), self.handlers.clone(), stop.clone());
            tokio::spawn(async move {
                tokio::select! {
                    _ = stop.cancelled() => {}
                    r = pgwire::tokio::process_socket(socket, tls, handlers) => {
                        if let Err(e) = r {
                            tracing::debug!(%peer, error = %e, "PostgreSQL wire connection ended");
                        }
                    }
                }
                drop(slot);
            });
        }
    }
}

struct Handlers {
    startup: Arc<Startup>,
    queries: Arc<Queries>,
    /// Every logged-in connection, by the key a cancel request names.
    connections: Arc<ConnectionManager>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.queries.clone()
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        self.startup.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.queries.clone()
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::new(DefaultCancelHandler::new(self.connections.clone()))
    }
}

/// Runs statements: simple queries and prepared ones.
struct Queries {
    engine: QueryEngine,
    control: Control,
    parser: Arc<extended::Parser>,
}

/// How one statement's answer travels: its parameter values, and for a prepared
/// statement the result columns as described and the format of each.
#[derive(Default)]
struct Binding {
    params: Vec<ScalarValue>,
    /// Described at Parse; none for a simple query (the result decides).
    kinds: Option<Vec<text::PgColumn>>,
    format: Format,
}

/// An error with a SQLSTATE, as the client sees it.
fn pg_error(code: &str, message: impl Into<String>) -> ErrorInfo {
    ErrorInfo::new("ERROR".into(), code.into(), message.into())
}

/// The SQLSTATE of a query failure: a client that gets one knows the query was
/// cancelled for a limit (57014, 53200, 54000, 53300) rather than wrong (42xxx).
fn query_error(e: &QueryError) -> ErrorInfo {
    let message = e.to_string();
    let code = match e {
        QueryError::Invalid(m) => {
            let m = m.to_ascii_lowercase();
            if m.contains("table") && m.contains("not found") {
                "42P01"
            } else if m.contains("no field named")
                || m.contains("column") && m.contains("not found")
            {
                "42703"
            } else if m.contains("invalid function")
                || m.contains("function") && m.contains("not found")
            {
                "42883"
            } else if m.contains("cannot cast") {
                // `'ten'::bigint`: PostgreSQL's invalid_text_representation.
                "22P02"
            } else if m.contains("sql parser error") {
                "42601"
            } else {
                "42000"
            }
        }
        QueryError::Refused(_) => "42501",
        QueryError::TimeLimit(_) => "57014",
        QueryError::MemoryLimit { .. } | QueryError::ResultLimit(_) => "53200",
        QueryError::RowLimit(_) => "54000",
        QueryError::Busy(_) => "53300",
        QueryError::Internal(_) => "XX000",
    };
    let mut info = pg_error(code, message);
    if matches!(e, QueryError::RowLimit(_) | QueryError::ResultLimit(_)) {
        info.hint = Some("add a LIMIT or aggregate".into());
    }
    info
}

/// What a statement is, from its first words.
#[derive(Debug, PartialEq)]
enum Kind<'a> {
    Begin,
    Commit,
    Rollback,
    Set,
    Show(&'a str),
    Noop(&'static str),
    Sql,
}

fn kind(sql: &str) -> Kind<'_> {
    let s = strip_comments(sql);
    let words: Vec<&str> = s.split_whitespace().take(2).collect();
    let first = words
        .first()
        .map(|w| w.trim_end_matches(';').to_ascii_lowercase());
    match first.as_deref() {
        Some("begin") | Some("start") => Kind::Begin,
        Some("commit") | Some("end") => Kind::Commit,
        Some("rollback") | Some("abort") => Kind::Rollback,
        Some("set") => Kind::Set,
        Some("reset") => Kind::Noop("RESET"),
        Some("discard") => Kind::Noop("DISCARD ALL"),
        Some("deallocate") => Kind::Noop("DEALLOCATE"),
        Some("show") => {
            let var = s.trim_start()[4..].trim().trim_end_matches(';').trim();
            match var.to_ascii_lowercase().as_str() {
                // DataFusion's own SHOW forms.
                "tables" | "all" => Kind::Sql,
                v if v.starts_with("columns") => Kind::Sql,
                _ => Kind::Show(var),
            }
        }
        _ => Kind::Sql,
    }
}

/// `sql` without leading `--` and `/* */` comments.
fn strip_comments(mut s: &str) -> &str {
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix("--") {
            s = rest.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(rest) = s.strip_prefix("/*") {
            s = rest.split_once("*/").map_or("", |(_, r)| r);
        } else {
            return s;
        }
    }
}

/// The statements of a simple query: none for one made only of comments (Grafana's
/// and pgx's `-- ping`), the text unchanged for one statement, each statement written
/// back by the parser for several.
fn statements(sql: &str) -> Vec<String> {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    match Parser::parse_sql(&PostgreSqlDialect {}, sql) {
        Ok(v) if v.is_empty() => vec![],
        Ok(v) if v.len() > 1 => v.iter().map(ToString::to_string).collect(),
        // One statement, or one the parser cannot read (a catalog question, or an
        // error the engine will name).
        _ if strip_comments(sql)
            .trim_matches(|c: char| c == ';' || c.is_whitespace())
            .is_empty() =>
        {
            vec![]
        }
        _ => vec![sql.to_string()],
    }
}

impl Queries {
    /// The connection's login, checked again before each statement.
    async fn login<C: ClientInfo>(&self, client: &C) -> PgWireResult<Arc<Arc<Login>>> {
        let login = client
            .session_extensions()
            .get::<Arc<Login>>()
            .ok_or(PgWireError::NotReadyForQuery)?;
        self.recheck(&login).await?;
        Ok(login)
    }

    /// Ends the connection when its login no longer holds: the session was logged out
    /// or revoked, the user disabled or given another role, the API token revoked.
    async fn recheck(&self, login: &Login) -> PgWireResult<()> {
        let ip = login
            .principal
            .source
            .parse()
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let holds = match &login.token {
            Some(token) => self
                .control
                .authenticate(Credential::Bearer(token), ip, false)
                .await
                .is_ok(),
            None => self
                .control
                .still_valid(&login.principal)
                .await
                .unwrap_or(false),
        };
        if holds {
            Ok(())
        } else {
            Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "28000".into(),
                "your login no longer holds (logged out, revoked, disabled or role changed); \
                 connect again"
                    .into(),
            ))))
        }
    }

    async fn one(&self, login: &Login, sql: &str, bind: Binding) -> Result<Response, ErrorInfo> {
        match kind(sql) {
            Kind::Begin => return Ok(Response::TransactionStart(Tag::new("BEGIN"))),
            Kind::Commit => return Ok(Response::TransactionEnd(Tag::new("COMMIT"))),
            Kind::Rollback => return Ok(Response::TransactionEnd(Tag::new("ROLLBACK"))),
            Kind::Set => return Ok(Response::Execution(Tag::new("SET"))),
            Kind::Noop(tag) => return Ok(Response::Execution(Tag::new(tag))),
            Kind::Show(var) => {
                let value = sotp_query::pg::setting(var).ok_or_else(|| {
                    pg_error(
                        "42704",
                        format!("unrecognized configuration parameter \"{var}\""),
                    )
                })?;
                let name = var.trim_matches('"').to_ascii_lowercase();
                let fields = text::text_fields(&[name.as_str()]);
                let row = text::text_row(&[Some(value)]);
                return Ok(Response::Query(QueryResponse::new(
                    fields,
                    stream::iter([Ok(row)]),
                )));
            }
            Kind::Sql => {}
        }
        let tables = login.principal.role.sql_tables();
        if let Some(a) = catalog::answer(sql, &self.engine.table_schemas(Some(tables))) {
            let fields = text::text_fields(&a.columns);
            let rows: Vec<_> = a
                .rows
                .iter()
                .map(|r| {
                    Ok(text::text_row(
                        &r.iter().map(Option::as_deref).collect::<Vec<_>>(),
                    ))
                })
                .collect();
            return Ok(Response::Query(QueryResponse::new(
                fields,
                stream::iter(rows),
            )));
        }
        let caller = Caller {
            user: Some(&login.principal.actor),
            tables: Some(tables),
        };
        let out = self
            .engine
            .execute_with_params(caller, sql, &bind.params)
            .await
            .map_err(|e| query_error(&e))?;
        let (fields, kinds) = match bind.kinds {
            Some(kinds) if kinds.len() == out.schema.fields().len() => {
                let names: Vec<&str> = out
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect();
                let format = bind.format.clone();
                (
                    text::described(&names, &kinds, |i| format.format_for(i)),
                    kinds,
                )
            }
            Some(kinds) => {
                return Err(pg_error(
                    "XX000",
                    format!(
                        "the statement was described with {} columns and returned {}",
                        kinds.len(),
                        out.schema.fields().len()
                    ),
                ));
            }
            None => text::fields(out.schema.fields()),
        };
        let binary: Arc<Vec<bool>> = Arc::new(
            (0..kinds.len())
                .map(|i| bind.format.format_for(i) == FieldFormat::Binary)
                .collect(),
        );
        // Rows are encoded one batch at a time as the client reads; the result keeps
        // its place in the memory budget until the last row is sent.
        let kinds = Arc::new(kinds);
        let batches = stream::unfold((out, 0usize), move |(out, i)| {
            let (kinds, binary) = (kinds.clone(), binary.clone());
            async move {
                let batch = out.batches.get(i)?;
                let rows = text::rows(batch.columns(), &kinds, &binary);
                Some((rows, (out, i + 1)))
            }
        });
        let rows = batches.flat_map(|rows| match rows {
            Ok(r) => stream::iter(r.into_iter().map(Ok).collect::<Vec<_>>()),
            Err(e) => stream::iter(vec![Err(PgWireError::UserError(Box::new(pg_error(
                "XX000",
                e.to_string(),
            ))))]),
        });
        Ok(Response::Query(QueryResponse::new(fields, rows)))
    }
}

#[async_trait]
impl SimpleQueryHandler for Queries {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: pgwire::api::store::PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let login = self.login(client).await?;
        let statements = statements(query);
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut out = Vec::with_capacity(statements.len());
        for sql in &statements {
            match self.one(&login, sql, Binding::default()).await {
                Ok(r) => out.push(r),
                Err(e) => {
                    // PostgreSQL stops a simple query at its first error.
                    out.push(Response::Error(Box::new(e)));
                    break;
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl ExtendedQueryHandler for Queries {
    type Statement = extended::Prepared;
    type QueryParser = extended::Parser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: pgwire::api::store::PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let login = self.login(client).await?;
        let stmt = &portal.statement.statement;
        let answer = match extended::bind(portal) {
            Ok(params) => {
                let bind = Binding {
                    params,
                    kinds: (!stmt.columns.is_empty()).then(|| stmt.kinds()),
                    format: portal.result_column_format.clone(),
                };
                self.one(&login, &stmt.sql, bind).await
            }
            Err(e) => Err(*e),
        };
        Ok(answer.unwrap_or_else(|e| Response::Error(Box::new(e))))
    }
}

#[cfg(test)]
mod tests;
