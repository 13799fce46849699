//! Secret references resolved at start against a local AWS API (`moto_server`, PyPI
//! `moto[server]`): `miroir` takes its master key from a Secrets Manager JSON secret
//! (`aws-sm://miroir/keys#master`) and its admin key from an SSM SecureString parameter
//! (`aws-ssm:///miroir/admin-key`) and enforces them; `miroir-migrate` finds its store through a
//! parameter holding the store URL; a reference that does not resolve stops the start with exit
//! 1 and a message naming the key and the reference.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::Duration;

use miroir_system_tests::{Fleet, Miroir, command};
use miroir_test_support::process::{Process, http, loopback_port, wait_until};

const MASTER: &str = "m-secret-1";
const ADMIN: &str = "a-secret-1";

/// A `moto_server` on a free loopback port, seeded with the test's secret and parameter.
struct LocalAws {
    _server: Process,
    port: u16,
}

impl LocalAws {
    fn start(store_url: &str) -> Self {
        let probe = Command::new("python3")
            .args(["-c", "import moto, boto3"])
            .status()
            .expect("python3 is on the PATH");
        assert!(
            probe.success(),
            "moto is missing: pip install 'moto[server]'"
        );
        let port = loopback_port().unwrap();
        let server = Process::spawn(
            Command::new("python3")
                .args([
                    "-m",
                    "moto.server",
                    "-H",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .unwrap();
        wait_until("moto_server to answer", Duration::from_secs(30), || {
            http(port, "GET", "/moto-api/", &[], "").is_some()
        });
        let seed = format!(
            r#"
import boto3, json
kw = dict(endpoint_url="http://127.0.0.1:{port}", region_name="us-east-1",
          aws_access_key_id="testing", aws_secret_access_key="testing")
boto3.client("secretsmanager", **kw).create_secret(
    Name="miroir/keys", SecretString=json.dumps({{"master": "{MASTER}"}}))
ssm = boto3.client("ssm", **kw)
ssm.put_parameter(Name="/miroir/admin-key", Value="{ADMIN}", Type="SecureString")
ssm.put_parameter(Name="/miroir/store-url", Value="{store_url}", Type="SecureString")
"#
        );
        let seeded = Command::new("python3")
            .args(["-c", &seed])
            .output()
            .unwrap();
        assert!(
            seeded.status.success(),
            "seeding moto: {}",
            String::from_utf8_lossy(&seeded.stderr)
        );
        Self {
            _server: server,
            port,
        }
    }

    /// The environment that points the AWS SDK at this server.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.port),
            ),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
    }
}

#[test]
fn keys_come_from_secrets_manager_and_ssm_and_a_missing_one_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tasks.db").display());
    let aws = LocalAws::start(&url);
    // The migration job finds the store through the parameter.
    let migrated = command("miroir-migrate", "miroir-migrate")
        .arg("up")
        .envs(aws.env())
        .env("MIROIR_TASK_STORE_URL", "aws-ssm:///miroir/store-url")
        .output()
        .unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert!(dir.path().join("tasks.db").exists());
    let fleet = Fleet::start(1);
    let mut env = aws.env();
    env.push((
        "MIROIR_MASTER_KEY",
        "aws-sm://miroir/keys#master".to_owned(),
    ));
    env.push((
        "MIROIR_ADMIN_API_KEY",
        "aws-ssm:///miroir/admin-key".to_owned(),
    ));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let miroir = Miroir::start_with(&fleet, &url, 1, &env_refs);

    let status = |path: &str, headers: &[(&str, &str)]| {
        http(miroir.port, "GET", path, headers, "").unwrap().status
    };
    let master = format!("Bearer {MASTER}");
    assert_eq!(status("/tasks", &[]), 401, "no key");
    assert_eq!(
        status(
            "/tasks",
            &[("Authorization", "Bearer aws-sm://miroir/keys#master")]
        ),
        403,
        "the reference itself is not the key"
    );
    assert_eq!(status("/tasks", &[("Authorization", &master)]), 200);
    assert_eq!(status("/_miroir/leases", &[("X-Admin-Key", "wrong")]), 401);
    assert_eq!(status("/_miroir/leases", &[("X-Admin-Key", ADMIN)]), 200);

    // A reference that does not resolve: exit 1, naming the key and the reference.
    for (var, reference, key) in [
        (
            "MIROIR_MASTER_KEY",
            "aws-sm://does-not-exist",
            "miroir.master_key",
        ),
        (
            "MIROIR_ADMIN_API_KEY",
            "aws-ssm:///miroir/missing-parameter",
            "miroir.admin.api_key",
        ),
    ] {
        let output = command("miroir-edge", "miroir")
            .envs(aws.env())
            .env("MIROIR_TASK_STORE_URL", &url)
            .env(
                "MIROIR_HTTP_ADDR",
                format!("127.0.0.1:{}", loopback_port().unwrap()),
            )
            .env(var, reference)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(key) && stderr.contains(reference),
            "the error names the key and the reference: {stderr}"
        );
    }
}
