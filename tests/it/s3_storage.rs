//! Parquet on S3: `sotp run` with `[storage] url = "s3://…"` against a real S3 server
//! (moto) on 127.0.0.1; files land in the bucket, are read back after a restart, and no
//! half-written object is ever listed.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Server, free_port, http};

/// A moto S3 server on 127.0.0.1, killed when dropped.
pub(crate) struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

pub(crate) fn start_moto(port: u16) -> Moto {
    let bin = std::env::var("SOTP_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{bin}` ({e}): run scripts/test.sh, which installs moto[server] and sets SOTP_MOTO_SERVER"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto(child)
}

/// The variables that point object_store (and so `sotp`) at the moto on `endpoint`.
pub(crate) fn aws_env(endpoint: &str) -> [(&'static str, String); 5] {
    [
        ("AWS_ENDPOINT", endpoint.to_string()),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
}

/// The keys of the objects in `bucket`.
pub(crate) fn s3_objects(endpoint: &str, bucket: &str) -> Vec<String> {
    let (status, body) = http("GET", &format!("{endpoint}/{bucket}?list-type=2"), None).unwrap();
    assert_eq!(status, 200, "{body}");
    body.split("<Key>")
        .skip(1)
        .filter_map(|s| s.split("</Key>").next())
        .map(str::to_string)
        .collect()
}

#[test]
fn parquet_files_go_to_s3_and_come_back_after_a_restart() {
    let port = free_port();
    let _moto = start_moto(port);
    let endpoint = format!("http://127.0.0.1:{port}");
    let (status, body) = http("PUT", &format!("{endpoint}/telemetry"), Some("")).unwrap();
    assert_eq!(status, 200, "create bucket: {body}");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sotp.toml");
    std::fs::write(
        &config,
        "[icmp]\ninterval = \"1s\"\ntimeout = \"200ms\"\n[storage]\nurl = \"s3://telemetry/sotp\"\nmax_file_age = \"2s\"\n\
         [[device_ranges]]\nname_prefix = \"s3-\"\nfirst_address = \"127.9.3.1\"\ncount = 10\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let env = |c: &mut Command| {
        c.envs(aws_env(&endpoint));
    };
    let mut cmd = Command::new(crate::common::BIN);
    env(&mut cmd);
    let mut server = Server::start_with(cmd, &config, &data, free_port());
    std::thread::sleep(Duration::from_secs(5));
    // Files were flushed to the bucket while running.
    let keys = s3_objects(&endpoint, "telemetry");
    assert!(
        !keys.is_empty(),
        "no objects in the bucket; log:\n{}",
        server.log_text()
    );
    // Raw samples, and the rollups of any minute that closed meanwhile (a run that
    // crosses a minute boundary), both under the configured prefix.
    assert!(
        keys.iter().all(|k| (k.starts_with("sotp/metrics/date=")
            || k.starts_with("sotp/metrics_1m/date="))
            && k.ends_with(".parquet")),
        "{keys:?}"
    );
    assert!(
        keys.iter().any(|k| k.starts_with("sotp/metrics/date=")),
        "{keys:?}"
    );
    assert_eq!(server.stop(), 0, "{}", server.log_text());
    assert!(
        !data.join("parquet").exists(),
        "nothing should be written locally"
    );

    // Nothing in memory any more: a restart reads every row back from S3.
    let idle = dir.path().join("idle.toml");
    std::fs::write(&idle, "[storage]\nurl = \"s3://telemetry/sotp\"\n").unwrap();
    let mut cmd = Command::new(crate::common::BIN);
    env(&mut cmd);
    let mut again = Server::start_with(cmd, &idle, &data, free_port());
    let rows = again.rows(
        "SELECT count(DISTINCT device_id), count(*), count(DISTINCT (device_id, metric, time)) FROM metrics",
    );
    assert_eq!(rows[0][0], 10, "{rows:?}");
    assert_eq!(rows[0][1], rows[0][2], "duplicates after restart: {rows:?}");
    assert!(rows[0][1].as_u64().unwrap() >= 10 * 8 * 3, "{rows:?}");
    assert_eq!(again.stop(), 0);
}
