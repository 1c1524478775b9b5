//! Logging in over the PostgreSQL wire: the user name and password of a SOTP user, or an
//! API token given as the password (how Grafana's data source logs in), checked by the
//! same [`Control::authorize`] as every other front door. The password travels in
//! cleartext inside the protocol, so it is asked for only over TLS or on a loopback
//! connection; anywhere else the login is refused before a password is sent. Every
//! attempt is written to the audit log.

use std::fmt::Debug;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::cleartext::CleartextPasswordAuth;
use pgwire::api::auth::driver::AuthOutcome;
use pgwire::api::auth::mechanism::AuthMechanismFactory;
use pgwire::api::auth::{
    AuthDriver, AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
    protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::{ClientInfo, ConnectionManager};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use sotp_inventory::{NewAudit, Permission};

use sotp_server::{AuthError, Control, Credential, Principal};

/// Who a connection is logged in as. An API token is kept (in memory, for the life of
/// the connection) so that each query can check it was not revoked meanwhile.
pub(crate) struct Login {
    pub(crate) principal: Principal,
    pub(crate) token: Option<String>,
}

/// Checks a password through [`Control::authorize`].
#[derive(Debug)]
pub(crate) struct Passwords {
    control: Control,
}

#[async_trait]
impl AuthSource<Arc<Login>> for Passwords {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        // Passwords are stored as argon2 hashes: there is nothing to give back.
        Err(PgWireError::InvalidPassword(
            _login.user().unwrap_or_default().to_string(),
        ))
    }

    async fn verify_password(
        &self,
        login: &LoginInfo,
        presented: &[u8],
    ) -> PgWireResult<Option<Arc<Login>>> {
        let user = login.user().unwrap_or_default().to_string();
        let source: IpAddr = login
            .host()
            .parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let refuse = |code: &str, message: String| {
            PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                code.into(),
                message,
            )))
        };
        if !self.control.login_allowed(source) {
            return Err(refuse(
                "53400",
                "too many login attempts from this address; wait a minute".into(),
            ));
        }
        let secret = String::from_utf8_lossy(presented).into_owned();
        let credential = Credential::Password {
            user: &user,
            secret: &secret,
        };
        let result = self
            .control
            .authorize(credential, Permission::Query, source, false)
            .await;
        let succeeded = result.as_ref().ok().map(|p| p.actor.as_str());
        let actor = self.control.login_actor(&user, succeeded).await;
        let outcome = match &result {
            Ok(_) => "success",
            Err(AuthError::Forbidden(_)) => "denied",
            Err(_) => "failure",
        };
        let _ = self
            .control
            .store
            .audit(NewAudit {
                actor,
                source: source.to_string(),
                action: "pgwire.login".into(),
                resource: format!("database/{}", login.database().unwrap_or_default()),
                before: None,
                after: None,
                outcome: outcome.into(),
            })
            .await;
        match result {
            Ok(principal) => {
                tracing::info!(actor = %principal.actor, %source, "PostgreSQL-wire login");
                let token = secret.starts_with("sotp_").then(|| secret.clone());
                Ok(Some(Arc::new(Login { principal, token })))
            }
            Err(AuthError::Forbidden(m)) => Err(refuse("42501", m)),
            Err(AuthError::PasswordChangeRequired) => Err(refuse(
                "28P01",
                "change your password first (POST /api/v1/auth/password)".into(),
            )),
            Err(AuthError::Store(e)) => {
                tracing::error!(error = %e, "PostgreSQL-wire login: control database");
                Err(refuse(
                    "58000",
                    "the control database failed; try again".into(),
                ))
            }
            Err(_) => Err(PgWireError::InvalidPassword(user)),
        }
    }
}

/// The startup of a connection: protocol negotiation, then a cleartext password over
/// TLS or loopback only.
pub(crate) struct Startup {
    driver: AuthDriver<DefaultServerParameterProvider, Arc<Login>>,
    cleartext: Arc<dyn AuthMechanismFactory<Arc<Login>>>,
}

impl Startup {
    pub(crate) fn new(control: Control, connections: Arc<ConnectionManager>) -> Self {
        let mut params = DefaultServerParameterProvider::default();
        params.server_version = super::SERVER_VERSION.into();
        params.date_style = "ISO, MDY".into();
        params.time_zone = "UTC".into();
        params.is_superuser = false;
        params.default_transaction_read_only = true;
        let passwords = Arc::new(Passwords { control });
        Self {
            // A logged-in connection is registered under the key its BackendKeyData
            // names: a cancel request with that key stops its running query.
            driver: AuthDriver::new(params).with_connection_manager(connections),
            cleartext: Arc::new(CleartextPasswordAuth::new(passwords)),
        }
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                if client.metadata().get("user").is_none() {
                    return Err(PgWireError::UserNameRequired);
                }
                if !(client.is_secure() || client.socket_addr().ip().is_loopback()) {
                    return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                        "FATAL".into(),
                        "28000".into(),
                        "SOTP asks for passwords only over TLS: connect with sslmode=require \
                         (set [pgwire] tls_cert and tls_key), or from this host"
                            .into(),
                    ))));
                }
                self.driver
                    .begin_authentication(client, self.cleartext.create())
                    .await?;
                Ok(())
            }
            PgWireFrontendMessage::PasswordMessageFamily(m) => {
                if let AuthOutcome::Authenticated {
                    identity,
                    final_message,
                } = self.driver.advance_authentication(client, m).await?
                {
                    let Some(login) = identity else {
                        return Err(PgWireError::InvalidPassword(
                            client.metadata().get("user").cloned().unwrap_or_default(),
                        ));
                    };
                    client.session_extensions().insert(login);
                    self.driver
                        .complete_authentication(client, final_message)
                        .await?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
