//! Users (argon2id password hashes, failed logins slowed down per account and address),
//! sessions with rotating refresh tokens and reuse detection, and API tokens for machines.
//!
//! A session ends on logout, on refresh-token reuse, when its user's password is changed
//! or reset, its role changed or the user disabled (every other session of that user),
//! and at the latest [`Store::with_session_lifetime`] after its login: refreshing renews a
//! refresh token, never the session itself, so a stolen session cannot live forever.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::devices::rfc3339;
use crate::{InventoryError, Role, Store, now_ms, random_token, token_hash};

/// Failed logins of one account from one address before its next attempts wait.
const FREE_FAILURES: i64 = 5;
/// The first wait; it doubles with each further failure, up to [`MAX_DELAY_MS`].
const FIRST_DELAY_MS: i64 = 30_000;
const MAX_DELAY_MS: i64 = 15 * 60_000;

/// How failed logins are counted: the SHA-256 of the lower-cased user name, so that an
/// unknown name is treated like a known one and a password typed into the name field is
/// never stored.
fn account_key(username: &str) -> String {
    token_hash(&username.trim().to_lowercase())
}

/// A user as returned by the API (never the hash).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Disabled users cannot log in and their sessions stop working.
    pub disabled: bool,
    /// The user must change the password before doing anything else.
    pub must_change_password: bool,
    /// Creation time, RFC 3339.
    pub created_at: String,
}

/// A successful login or refresh: the user and a new refresh token of a session.
#[derive(Clone, Debug)]
pub struct LoginOutcome {
    /// Who.
    pub user: User,
    /// The session (refresh token family).
    pub session: Session,
}

/// A session: one refresh-token family.
#[derive(Clone)]
pub struct Session {
    /// Family id, also carried in access tokens.
    pub id: String,
    /// The current refresh token (shown once).
    pub refresh_token: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// (session, expires_at, used_at, user_id, session revoked_at, user disabled, session
/// created_at).
type RefreshRow = (String, i64, Option<i64>, i64, Option<i64>, i64, i64);

fn hasher() -> Argon2<'static> {
    Argon2::default() // argon2id, v0x13, OWASP-recommended parameters
}

fn hash_password(p: &str) -> Result<String, InventoryError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    hasher()
        .hash_password(p.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| InventoryError::Secret(format!("hashing: {e}")))
}

fn verify_password(p: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| hasher().verify_password(p.as_bytes(), &h).is_ok())
}

fn check_password_policy(p: &str) -> Result<(), InventoryError> {
    if p.chars().count() < 8 {
        return Err(InventoryError::field(
            "password",
            "must have at least 8 characters",
        ));
    }
    if p.len() > 1024 {
        return Err(InventoryError::field("password", "longer than 1024 bytes"));
    }
    Ok(())
}

const USER_COLUMNS: &str = "id, username, role, disabled, must_change_password, created_at";

fn user_from_row(row: &AnyRow) -> Result<User, InventoryError> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        role: role
            .parse()
            .map_err(|e: String| InventoryError::Database(sqlx::Error::Decode(e.into())))?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        must_change_password: row.try_get::<i64, _>("must_change_password")? != 0,
        created_at: rfc3339(row.try_get("created_at")?),
    })
}

impl Store {
    /// Creates a user. Fails with `Conflict` when the name is taken.
    pub async fn create_user(
        &self,
        username: &str,
        password: &str,
        role: Role,
        must_change_password: bool,
    ) -> Result<User, InventoryError> {
        let name = username.trim();
        if name.is_empty()
            || name.len() > 64
            || name.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(InventoryError::field(
                "username",
                "must be 1 to 64 characters without spaces",
            ));
        }
        check_password_policy(password)?;
        let hash = hash_password(password)?;
        let r = sqlx::query(
            "INSERT INTO users (username, password_hash, role, disabled, must_change_password, failed_logins, locked_until, created_at) VALUES ($1, $2, $3, 0, $4, 0, 0, $5)",
        )
        .bind(name)
        .bind(hash)
        .bind(role.as_str())
        .bind(i64::from(must_change_password))
        .bind(now_ms())
        .execute(&self.pool)
        .await;
        InventoryError::conflict_on_unique(r, || format!("user `{name}` already exists"))?;
        self.user_by_name(name).await
    }

    /// Number of users.
    pub async fn user_count(&self) -> Result<i64, InventoryError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    /// A user by name.
    pub async fn user_by_name(&self, name: &str) -> Result<User, InventoryError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(user_from_row)
            .transpose()?
            .ok_or_else(|| InventoryError::NotFound(format!("user `{name}`")))
    }

    /// A user by id.
    pub async fn user(&self, id: i64) -> Result<User, InventoryError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(user_from_row)
            .transpose()?
            .ok_or_else(|| InventoryError::NotFound(format!("user {id}")))
    }

    /// The user name when `username` names a user (exactly), else none.
    pub async fn user_exists(&self, username: &str) -> Result<Option<String>, InventoryError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT username FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(n,)| n))
    }

    /// Every user.
    pub async fn users(&self) -> Result<Vec<User>, InventoryError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Checks a password sent from `source` (the client's address); on success opens a
    /// session. After [`FREE_FAILURES`] failures of one account from one address, that
    /// address waits before its next attempt for the account (a growing delay); other
    /// addresses, the real owner's among them, are not held back. Unknown and known names
    /// get the same answers. Failures are counted atomically, so parallel guesses each
    /// count.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        source: &str,
    ) -> Result<LoginOutcome, InventoryError> {
        let bad = || InventoryError::Unauthenticated("wrong user name or password".into());
        let account = account_key(username);
        let now = now_ms();
        let waiting: Option<(i64,)> = sqlx::query_as(
            "SELECT next_at FROM login_failures WHERE account = $1 AND address = $2",
        )
        .bind(&account)
        .bind(source)
        .fetch_optional(&self.pool)
        .await?;
        if let Some((next_at,)) = waiting.filter(|(n,)| *n > now) {
            return Err(InventoryError::Throttled((next_at - now + 999) / 1000));
        }
        let row: Option<(i64, String, i64)> =
            sqlx::query_as("SELECT id, password_hash, disabled FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?;
        let verified = match &row {
            Some((_, hash, _)) => verify_password(password, hash),
            None => {
                // Same work as a real check, so timing does not reveal which names exist.
                static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
                let dummy =
                    DUMMY.get_or_init(|| hash_password(&random_token(16)).unwrap_or_default());
                let _ = verify_password(password, dummy);
                false
            }
        };
        let Some((id, _, disabled)) = row.filter(|_| verified) else {
            self.count_failure(&account, source, now).await?;
            return Err(bad());
        };
        if disabled != 0 {
            return Err(InventoryError::Unauthenticated("account disabled".into()));
        }
        sqlx::query("DELETE FROM login_failures WHERE account = $1 AND address = $2")
            .bind(&account)
            .bind(source)
            .execute(&self.pool)
            .await?;
        let session_id = random_token(12);
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, revoked_at) VALUES ($1, $2, $3, NULL)",
        )
        .bind(&session_id)
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        let refresh_token = self.new_refresh(&session_id, now).await?;
        Ok(LoginOutcome {
            user: self.user(id).await?,
            session: Session {
                id: session_id,
                refresh_token,
            },
        })
    }

    /// Counts one failure of `account` from `source` in one statement (parallel failures
    /// each count) and, past the free ones, sets when the next attempt may come.
    async fn count_failure(
        &self,
        account: &str,
        source: &str,
        now: i64,
    ) -> Result<(), InventoryError> {
        let (failures,): (i64,) = sqlx::query_as(
            "INSERT INTO login_failures (account, address, failures, next_at) VALUES ($1, $2, 1, 0) \
             ON CONFLICT (account, address) DO UPDATE SET failures = login_failures.failures + 1 \
             RETURNING failures",
        )
        .bind(account)
        .bind(source)
        .fetch_one(&self.pool)
        .await?;
        if failures >= FREE_FAILURES {
            let delay = (FIRST_DELAY_MS << (failures - FREE_FAILURES).min(10)).min(MAX_DELAY_MS);
            sqlx::query(
                "UPDATE login_failures SET next_at = $1 WHERE account = $2 AND address = $3",
            )
            .bind(now + delay)
            .bind(account)
            .bind(source)
            .execute(&self.pool)
            .await?;
            tracing::warn!(
                address = source,
                failures,
                delay_s = delay / 1000,
                "repeated failed logins for one account from one address: slowed down"
            );
        }
        Ok(())
    }

    /// A new refresh token of a session that began at `session_created` (ms): it expires
    /// after the refresh TTL, and never after the session's absolute end.
    async fn new_refresh(
        &self,
        session_id: &str,
        session_created: i64,
    ) -> Result<String, InventoryError> {
        let token = format!("sotpr_{}", random_token(32));
        let expires = (now_ms() + self.refresh_ttl_ms()).min(self.session_end(session_created));
        sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, expires_at, used_at) VALUES ($1, $2, $3, NULL)")
            .bind(token_hash(&token))
            .bind(session_id)
            .bind(expires)
            .execute(&self.pool)
            .await?;
        Ok(token)
    }

    fn refresh_ttl_ms(&self) -> i64 {
        self.refresh_ttl.as_millis() as i64
    }

    /// When a session that began at `created` (ms) ends, whatever its refreshes.
    fn session_end(&self, created: i64) -> i64 {
        created.saturating_add(self.session_lifetime.as_millis() as i64)
    }

    /// Exchanges a refresh token for a new one of the same session. A token used twice
    /// means it was stolen: the whole session is revoked.
    pub async fn refresh(&self, token: &str) -> Result<LoginOutcome, InventoryError> {
        let bad = |m: &str| InventoryError::Unauthenticated(m.to_string());
        let row: Option<RefreshRow> = sqlx::query_as(
            "SELECT r.session_id, r.expires_at, r.used_at, s.user_id, s.revoked_at, u.disabled, s.created_at FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id JOIN users u ON u.id = s.user_id WHERE r.token_hash = $1",
        )
        .bind(token_hash(token))
        .fetch_optional(&self.pool)
        .await?;
        let Some((session_id, expires, used, user_id, revoked, disabled, created)) = row else {
            return Err(bad("unknown refresh token"));
        };
        if revoked.is_some() {
            return Err(bad("session revoked"));
        }
        let now = now_ms();
        let marked = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(token_hash(token))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if used.is_some() || marked == 0 {
            self.revoke_session(&session_id).await?;
            return Err(bad("refresh token reused: the whole session is revoked"));
        }
        if self.session_end(created) <= now {
            self.revoke_session(&session_id).await?;
            return Err(bad(
                "the session reached its maximum lifetime ([auth] session_lifetime): log in again",
            ));
        }
        if expires <= now {
            return Err(bad("refresh token expired"));
        }
        if disabled != 0 {
            return Err(bad("account disabled"));
        }
        let refresh_token = self.new_refresh(&session_id, created).await?;
        Ok(LoginOutcome {
            user: self.user(user_id).await?,
            session: Session {
                id: session_id,
                refresh_token,
            },
        })
    }

    /// Revokes a session: its refresh tokens and access tokens stop working.
    pub async fn revoke_session(&self, session_id: &str) -> Result<(), InventoryError> {
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Revokes every session of a user but `except` (the caller's own, when a user changes
    /// their own password); returns how many ended.
    pub async fn revoke_user_sessions(
        &self,
        user_id: i64,
        except: Option<&str>,
    ) -> Result<u64, InventoryError> {
        let ended = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL AND id <> $3",
        )
        .bind(now_ms())
        .bind(user_id)
        .bind(except.unwrap_or(""))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if ended > 0 {
            tracing::info!(user_id, ended, "sessions revoked");
        }
        Ok(ended)
    }

    /// The user behind a live session, or `None` if the session is revoked, past its
    /// absolute lifetime, or the user disabled. Checked on every request so that logout,
    /// a password change and disabling act at once.
    pub async fn session_user(&self, session_id: &str) -> Result<Option<User>, InventoryError> {
        let sql = format!(
            "SELECT {} FROM users u JOIN sessions s ON s.user_id = u.id WHERE s.id = $1 AND s.revoked_at IS NULL AND u.disabled = 0 AND s.created_at > $2",
            USER_COLUMNS
                .split(", ")
                .map(|c| format!("u.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(session_id)
            .bind(now_ms().saturating_sub(self.session_lifetime.as_millis() as i64))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Changes a user's own password after checking the current one; ends every other
    /// session of that user (all of them when `keep_session` is none).
    pub async fn change_password(
        &self,
        user_id: i64,
        current: &str,
        new: &str,
        keep_session: Option<&str>,
    ) -> Result<(), InventoryError> {
        let (hash,): (String,) = sqlx::query_as("SELECT password_hash FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?;
        if !verify_password(current, &hash) {
            return Err(InventoryError::field("current_password", "is wrong"));
        }
        if current == new {
            return Err(InventoryError::field(
                "new_password",
                "must differ from the current one",
            ));
        }
        self.write_password(user_id, new, false).await?;
        self.revoke_user_sessions(user_id, keep_session).await?;
        Ok(())
    }

    /// Sets a password (an admin's reset; the user must change it at the next login when
    /// `must_change` is true) and ends every session of the user.
    pub async fn set_password(
        &self,
        user_id: i64,
        new: &str,
        must_change: bool,
    ) -> Result<(), InventoryError> {
        self.write_password(user_id, new, must_change).await?;
        self.revoke_user_sessions(user_id, None).await?;
        Ok(())
    }

    async fn write_password(
        &self,
        user_id: i64,
        new: &str,
        must_change: bool,
    ) -> Result<(), InventoryError> {
        check_password_policy(new)?;
        let hash = hash_password(new)?;
        sqlx::query("UPDATE users SET password_hash = $1, must_change_password = $2 WHERE id = $3")
            .bind(hash)
            .bind(i64::from(must_change))
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Admin changes to a user: disable/enable, force a password change, change role.
    /// Disabling or a new role ends every session (a session must not keep the rights
    /// of a role the user no longer has), and an admin disabled or no longer admin loses
    /// the API tokens they made: a token must not outlive its maker's right to make it.
    pub async fn update_user(
        &self,
        user_id: i64,
        disabled: Option<bool>,
        must_change_password: Option<bool>,
        role: Option<Role>,
    ) -> Result<(User, User), InventoryError> {
        let before = self.user(user_id).await?;
        sqlx::query(
            "UPDATE users SET disabled = $1, must_change_password = $2, role = $3 WHERE id = $4",
        )
        .bind(i64::from(disabled.unwrap_or(before.disabled)))
        .bind(i64::from(
            must_change_password.unwrap_or(before.must_change_password),
        ))
        .bind(role.unwrap_or(before.role).as_str())
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        if disabled == Some(true) || role.is_some_and(|r| r != before.role) {
            self.revoke_user_sessions(user_id, None).await?;
        }
        let still_admin = disabled != Some(true) && role.unwrap_or(before.role) == Role::Admin;
        if before.role == Role::Admin && !still_admin {
            let revoked = sqlx::query(
                "UPDATE api_tokens SET revoked_at = $1 WHERE created_by = $2 AND revoked_at IS NULL",
            )
            .bind(now_ms())
            .bind(&before.username)
            .execute(&self.pool)
            .await?
            .rows_affected();
            self.api_token_cache.invalidate();
            if revoked > 0 {
                tracing::info!(user = %before.username, tokens = revoked, "API tokens of a former admin revoked");
            }
        }
        Ok((before, self.user(user_id).await?))
    }
}
