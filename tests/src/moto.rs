//! A moto server for the AWS-adapter tests: started on a free 127.0.0.1 port from the
//! repository's virtualenv (`make test` installs it), stopped when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

pub struct MotoServer {
    child: Child,
    pub port: u16,
}

/// Where `make test` puts moto: `<repo>/.venv/bin/moto_server`, or `$MOTO_SERVER`.
fn moto_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(".venv")
        .join("bin")
        .join("moto_server")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

impl MotoServer {
    /// Starts moto and waits until it accepts connections.
    pub fn start() -> MotoServer {
        MotoServer::start_with_env(&[])
    }

    /// Starts moto with IAM enforced after the first `free_actions` requests
    /// (`INITIAL_NO_AUTH_ACTION_COUNT`): from then on every request is signature-checked and
    /// authorized against its principal's IAM policies (moto checks actions and the role trust's
    /// ExternalId; it does not evaluate resource ARNs or other conditions).
    pub fn start_with_iam_after(free_actions: u32) -> MotoServer {
        MotoServer::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", &free_actions.to_string())])
    }

    fn start_with_env(env: &[(&str, &str)]) -> MotoServer {
        let binary = moto_binary();
        assert!(
            binary.exists(),
            "moto_server not found at {}: run `make test` (it installs moto into .venv) or set MOTO_SERVER",
            binary.display()
        );
        let port = free_port();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let server = MotoServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on port {port} within a minute"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An SDK configuration that talks to this server with static test credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "static"))
            .endpoint_url(self.endpoint())
            .load()
            .await
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
