//! Roles and the one permission matrix that every surface (HTTP routes, SQL tables)
//! consults.

use serde::{Deserialize, Serialize};

/// What a user or an API token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including users and tokens.
    Admin,
    /// Reads everything but the audit log; changes devices.
    Operator,
    /// Reads everything, including the audit log; changes nothing.
    Auditor,
    /// Reads metrics, logs and devices.
    Readonly,
}

/// One thing a request may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Run SQL (which tables are visible is [`Role::sql_tables`]).
    Query,
    /// List and read devices.
    DevicesRead,
    /// Create, change and delete devices.
    DevicesWrite,
    /// Read the audit log.
    AuditRead,
    /// Create, list and revoke API tokens; manage users.
    Admin,
    /// Change one's own password, log out.
    Self_,
    /// Read alerts, their timelines, rules, silences and receivers.
    AlertsRead,
    /// Acknowledge and resolve alerts, manage silences, backtest rules.
    AlertsWrite,
    /// Run allowlisted read-only commands on devices over SSH.
    DevicesExecute,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 9] = [
        Permission::Query,
        Permission::DevicesRead,
        Permission::DevicesWrite,
        Permission::AuditRead,
        Permission::Admin,
        Permission::Self_,
        Permission::AlertsRead,
        Permission::AlertsWrite,
        Permission::DevicesExecute,
    ];

    /// The stable name (`query`, `devices.read`, ...), as the OpenAPI document lists it
    /// in each route's security scopes.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Query => "query",
            Permission::DevicesRead => "devices.read",
            Permission::DevicesWrite => "devices.write",
            Permission::AuditRead => "audit.read",
            Permission::Admin => "admin",
            Permission::Self_ => "self",
            Permission::AlertsRead => "alerts.read",
            Permission::AlertsWrite => "alerts.write",
            Permission::DevicesExecute => "devices.execute",
        }
    }
}

impl std::str::FromStr for Permission {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown permission `{s}`"))
    }
}

impl Role {
    /// All roles, for tests and docs.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Operator, Role::Auditor, Role::Readonly];

    /// The permission matrix.
    pub fn allows(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Operator => matches!(
                p,
                Query
                    | DevicesRead
                    | DevicesWrite
                    | DevicesExecute
                    | Self_
                    | AlertsRead
                    | AlertsWrite
            ),
            Role::Auditor => matches!(p, Query | DevicesRead | AuditRead | Self_ | AlertsRead),
            Role::Readonly => matches!(p, Query | DevicesRead | Self_ | AlertsRead),
        }
    }

    /// The SQL tables this role may read (besides `information_schema`).
    pub fn sql_tables(self) -> &'static [&'static str] {
        // `command_outputs` holds device configurations (secrets masked): for those who
        // may run commands on devices, and auditors.
        match self {
            Role::Admin | Role::Auditor => &[
                "metrics",
                "metrics_1m",
                "logs",
                "alerts",
                "command_outputs",
                "device_versions",
                "interface_status",
                "devices",
                "audit",
            ],
            Role::Operator => &[
                "metrics",
                "metrics_1m",
                "logs",
                "alerts",
                "command_outputs",
                "device_versions",
                "interface_status",
                "devices",
            ],
            Role::Readonly => &["metrics", "metrics_1m", "logs", "alerts", "devices"],
        }
    }

    /// `admin`, `operator`, `auditor` or `readonly`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
            Role::Readonly => "readonly",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            "auditor" => Ok(Role::Auditor),
            "readonly" => Ok(Role::Readonly),
            _ => Err(format!(
                "unknown role `{s}`: use admin, operator, auditor or readonly"
            )),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
