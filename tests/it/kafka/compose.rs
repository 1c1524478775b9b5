//! docker-compose.yml cannot run here; keep it honest by reading it: every service SOTP
//! names exists, every SOTP role has its service, and the SOTP configuration the
//! containers get (file plus environment) passes `sotp config check`.

use std::process::Command;

use super::peer::kafka_python;
use crate::common::BIN;

#[test]
fn docker_compose_names_only_services_that_exist() {
    let root = env!("CARGO_MANIFEST_DIR");
    let script = r#"
import json, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
services = doc["services"]
problems = []
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
    for (k, val) in v["env"].as_object().unwrap() {
        if k.starts_with("SOTP__") {
            check.env(k, val.as_str().unwrap());
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
