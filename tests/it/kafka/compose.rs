//! docker-compose.yml cannot run here; keep it honest by reading it: every service SOTP
//! names exists, every SOTP role has its service, and the SOTP configuration the
//! containers get (file plus environment) passes `sotp config check`. And its security
//! (issue 13): no password with a default, nothing published beyond 127.0.0.1 but the
//! API and Grafana, one master key for every SOTP container, Grafana logged in to SOTP's
//! PostgreSQL wire with a token from a file.

use std::process::Command;

use super::peer::kafka_python;
use crate::common::BIN;

#[test]
fn docker_compose_names_only_services_that_exist() {
    let root = env!("CARGO_MANIFEST_DIR");
    let script = r#"
import json, os, re, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
services = doc["services"]
problems = []
required = re.compile(r"^\$\{[A-Z_]+:\?[^}]+\}$")
secretish = re.compile(r"PASSWORD|SECRET|_KEY$")
published = {}
sotp_services = [n for n, s in services.items() if s.get("image") == "sotp:latest"]
for name, s in services.items():
    env = s.get("environment", {}) or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    for k, v in env.items():
        v = str(v)
        if secretish.search(k) and k != "SOTP__SECRETS__KEY_FILE" and not required.match(v):
            problems.append(f"{name}: {k} has a value in the file ({v!r}); use ${{{k}:?...}} from .env")
        if "://" in v and "@" in v and not re.search(r":\$\{[A-Z_]+:\?[^}]+\}@", v):
            problems.append(f"{name}: {k} embeds a password in the file")
    for p in s.get("ports", []) or []:
        p = str(p)
        if not p.startswith("127.0.0.1:"):
            problems.append(f"{name}: port {p} is published on every interface")
        published[name] = p
    one_shot = name == "minio-init" or s.get("restart") == "no"
    check = s.get("healthcheck") or {}
    if one_shot:
        if not check.get("disable") and name != "minio-init":
            problems.append(f"{name}: a one-shot job with an inherited health check")
    elif not check.get("test") or check.get("disable"):
        problems.append(f"{name}: no healthcheck")
if set(published) - {"sotp-api", "grafana"}:
    problems.append(f"published ports beyond the API and Grafana: {sorted(published)}")
for name in sotp_services:
    s = services[name]
    if s.get("secrets") != ["sotp_master_key"]:
        problems.append(f"{name}: does not get the shared master key secret")
    if s.get("environment", {}).get("SOTP__SECRETS__KEY_FILE") != "/run/secrets/sotp_master_key":
        problems.append(f"{name}: SOTP__SECRETS__KEY_FILE is not the shared secret")
# Every long-running SOTP container keeps its data directory (deploy/sotp.toml:
# data_dir) in a named volume of its own, and is checked with `sotp health`.
data_dir = re.search(r'^data_dir = "([^"]+)"', open(os.path.join(os.path.dirname(sys.argv[1]), "deploy/sotp.toml")).read(), re.M).group(1)
owners = {}
for name in sotp_services:
    s = services[name]
    if s.get("restart") == "no":
        continue
    mounts = [v.split(":") for v in s.get("volumes", [])]
    named = [m[0] for m in mounts if len(m) >= 2 and m[1] == data_dir and not m[0].startswith(".")]
    if not named:
        problems.append(f"{name}: no named volume at its data directory {data_dir}")
    for v in named:
        if v in owners:
            problems.append(f"{name} and {owners[v]} share the data volume {v}")
        owners[v] = name
        if v not in (doc.get("volumes") or {}):
            problems.append(f"{name}: volume {v} is not declared")
    if "deploy" in s and s["deploy"].get("replicas", 1) > 1:
        problems.append(f"{name}: replicas would share one data volume")
    if "health" not in (s.get("healthcheck") or {}).get("test", []):
        problems.append(f"{name}: not checked with `sotp health`")
for name, s in services.items():
    for v in s.get("volumes", []) or []:
        src = v.split(":")[0]
        if not src.startswith(".") and not src.startswith("/") and src not in (doc.get("volumes") or {}):
            problems.append(f"{name}: volume {src} is not declared")
if services.get("grafana", {}).get("depends_on", {}).get("sotp-api", {}).get("condition") != "service_healthy":
    problems.append("grafana does not wait for a healthy sotp-api")
if doc.get("secrets", {}).get("sotp_master_key", {}).get("file") != "./secrets/master.key":
    problems.append("the master key secret is not ./secrets/master.key")
api_env = services.get("sotp-api", {}).get("environment", {})
if not str(api_env.get("SOTP__PGWIRE__LISTEN", "")).endswith(":5432"):
    problems.append("sotp-api does not serve the PostgreSQL wire on :5432")
ds = yaml.safe_load(open(os.path.join(os.path.dirname(sys.argv[1]), "deploy/grafana/provisioning/datasources/sotp.yaml")))
src = ds["datasources"][0]
if src.get("url") != "sotp-api:5432" or not src.get("secureJsonData", {}).get("password", "").startswith("$__file{"):
    problems.append(f"Grafana's data source is not SOTP's PostgreSQL wire with a token file: {src}")
for need in ["kafka", "minio", "postgres", "grafana"]:
    if need not in services:
        problems.append(f"no `{need}` service")
if not services.get("kafka", {}).get("image", "").startswith("apache/kafka"):
    problems.append("kafka must use the apache/kafka image (KRaft)")
roles = {}
for name, s in services.items():
    deps = s.get("depends_on", [])
    for d in (deps if isinstance(deps, list) else deps.keys()):
        if d not in services:
            problems.append(f"{name} depends on missing service `{d}`")
    cmd = s.get("command") or []
    if isinstance(cmd, list) and "--role" in cmd:
        roles[cmd[cmd.index("--role") + 1]] = name
        env = s.get("environment", {})
        for key in ["SOTP__BUS__BROKERS", "AWS_ENDPOINT"]:
            host = env.get(key, "").split("://")[-1].split(":")[0]
            if host not in services:
                problems.append(f"{name}: {key} names `{host}`, which is not a service")
for role in ["collector", "pipeline", "sink", "api"]:
    if role not in roles:
        problems.append(f"no service runs --role {role}")
print(json.dumps({"problems": problems, "roles": roles,
                  "env": services[roles.get("api", "sotp-api")].get("environment", {})}))
"#;
    let stdout = crate::common::stdout_ok(Command::new(kafka_python()).args([
        "-c",
        script,
        &format!("{root}/docker-compose.yml"),
    ]));
    let v: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(v["problems"], serde_json::json!([]), "{v}");

    // The containers' configuration: the mounted file plus the compose environment.
    let mut check = Command::new(BIN);
    check.args(["config", "check", &format!("{root}/deploy/sotp.toml")]);
    // Compose fills `${NAME:?...}` from .env; any value will do for the check.
    let interpolated = regex::Regex::new(r"\$\{[A-Z_]+:\?[^}]+\}").unwrap();
    for (k, val) in v["env"].as_object().unwrap() {
        if k.starts_with("SOTP__") && k != "SOTP__SECRETS__KEY_FILE" {
            check.env(
                k,
                interpolated
                    .replace_all(val.as_str().unwrap(), "from-env")
                    .as_ref(),
            );
        }
    }
    let out = check.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dockerfile = std::fs::read_to_string(format!("{root}/Dockerfile")).unwrap();
    assert!(
        dockerfile.matches("\nFROM ").count() + usize::from(dockerfile.starts_with("FROM ")) >= 2,
        "the Dockerfile is multi-stage"
    );
}
