//! [`RedisServer`]: one Redis server owned by a test, in Docker or as a local process.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::HarnessError;
use crate::docker::DockerRedis;
use crate::local::LocalRedis;
use crate::resp::{self, Reply};

/// How long a server may take to answer `PING` after (re)starting.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a graceful shutdown may take before the server is killed.
pub(crate) const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Bound on each step of [`RedisServer::command`] (and of the cluster's commands).
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// The `appendfsync` policy of the append-only file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Appendfsync {
    /// fsync after every write: nothing acknowledged is lost, even on `SIGKILL`.
    Always,
    /// fsync once per second (Redis' default): up to a second of writes may be lost on a crash.
    #[default]
    EverySec,
    /// Leave flushing to the OS.
    No,
}

impl Appendfsync {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::EverySec => "everysec",
            Self::No => "no",
        }
    }
}

/// Configuration of a server started with [`RedisServer::start_with`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedisOptions {
    /// Keep an append-only file so data survives [`RedisServer::restart`]. Off by default: the
    /// server then persists nothing (`--save ""`).
    pub appendonly: bool,
    /// fsync policy of the append-only file (ignored without `appendonly`).
    pub appendfsync: Appendfsync,
    /// Extra `redis-server` arguments, e.g. `["--maxmemory", "10mb"]`.
    pub extra_args: Vec<String>,
}

impl RedisOptions {
    /// The `redis-server` command-line arguments of these options (without port, bind or dir).
    pub(crate) fn server_args(&self) -> Vec<String> {
        let mut args = vec![
            "--appendonly".to_owned(),
            yes_no(self.appendonly).to_owned(),
        ];
        if self.appendonly {
            args.extend([
                "--appendfsync".to_owned(),
                self.appendfsync.as_str().to_owned(),
            ]);
        } else {
            args.extend(["--save".to_owned(), String::new()]);
        }
        // Lets tests simulate a server that hangs (`DEBUG SLEEP`), from loopback only.
        args.extend(["--enable-debug-command".to_owned(), "local".to_owned()]);
        args.extend(self.extra_args.iter().cloned());
        args
    }
}

fn yes_no(flag: bool) -> &'static str {
    if flag { "yes" } else { "no" }
}

#[derive(Debug)]
enum Engine {
    Local(LocalRedis),
    Docker(DockerRedis),
}

/// A Redis server for one test (or, through [`crate::shared_redis`], for one test process).
///
/// Dropping it kills the server and removes its data directory or container.
#[derive(Debug)]
pub struct RedisServer {
    engine: Engine,
}

/// Where servers come from, decided once per process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// Docker; `fallback` allows the local binary when the container does not start.
    Docker {
        fallback: bool,
    },
    Local,
}

fn choose_source() -> Result<Source, HarnessError> {
    static SOURCE: OnceLock<Result<Source, HarnessError>> = OnceLock::new();
    SOURCE
        .get_or_init(|| match std::env::var("MIROIR_TEST_REDIS").as_deref() {
            Ok("docker") => Ok(Source::Docker { fallback: false }),
            Ok("local") => LocalRedis::binary().map(|_| Source::Local),
            Ok(other) if !other.is_empty() => Err(HarnessError::new(format!(
                "MIROIR_TEST_REDIS must be `docker` or `local`, got `{other}`"
            ))),
            _ if crate::docker::engine_answers() => Ok(Source::Docker { fallback: true }),
            _ => LocalRedis::binary().map(|_| Source::Local),
        })
        .clone()
}

impl RedisServer {
    /// Starts a server with default options (no persistence) and waits until it answers `PING`.
    pub fn start() -> Result<Self, HarnessError> {
        Self::start_with(RedisOptions::default())
    }

    /// Starts a server configured by `options` and waits until it answers `PING`.
    pub fn start_with(options: RedisOptions) -> Result<Self, HarnessError> {
        let engine = match choose_source()? {
            Source::Local => Engine::Local(LocalRedis::start(options)?),
            Source::Docker { fallback: false } => Engine::Docker(DockerRedis::start(options)?),
            Source::Docker { fallback: true } => match DockerRedis::start(options.clone()) {
                Ok(docker) => Engine::Docker(docker),
                // The engine answered but the container did not come up (no image offline, …).
                Err(docker_error) => match LocalRedis::start(options) {
                    Ok(local) => {
                        eprintln!("docker redis failed ({docker_error}); using local redis-server");
                        Engine::Local(local)
                    }
                    Err(local_error) => {
                        return Err(HarnessError::new(format!("{docker_error}; {local_error}")));
                    }
                },
            },
        };
        Ok(Self { engine })
    }

    /// The host clients connect to (`127.0.0.1` for a local server).
    pub fn host(&self) -> &str {
        match &self.engine {
            Engine::Local(_) => "127.0.0.1",
            Engine::Docker(docker) => docker.host(),
        }
    }

    /// The TCP port clients connect to; it stays the same across [`RedisServer::restart`].
    pub fn port(&self) -> u16 {
        match &self.engine {
            Engine::Local(local) => local.port(),
            Engine::Docker(docker) => docker.port(),
        }
    }

    /// `redis://HOST:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://{}:{}/0", self.host(), self.port())
    }

    /// A Miroir store URL on this server with its own key prefix and operation timeout, e.g.
    /// `redis://127.0.0.1:6379/0?prefix=t1_x&timeout_ms=2000`.
    pub fn store_url(&self, prefix: &str, timeout: Duration) -> String {
        format!(
            "{}?prefix={prefix}&timeout_ms={}",
            self.url(),
            timeout.as_millis().max(1)
        )
    }

    /// Sends one command over a fresh connection and returns the reply (server errors included
    /// as [`Reply::Error`]).
    pub fn command(&self, args: &[&str]) -> Result<Reply, HarnessError> {
        resp::command(self.host(), self.port(), args, COMMAND_TIMEOUT)
    }

    /// True when the server answers `PING`.
    pub fn is_up(&self) -> bool {
        resp::answers_ping(self.host(), self.port())
    }

    /// Kills the server at once (`SIGKILL`, or `docker kill`), like a crash: nothing is flushed.
    /// The data directory is kept for [`RedisServer::restart`]. Returns once the port refuses
    /// connections.
    ///
    /// # Panics
    ///
    /// If the server cannot be killed (test code: the test cannot go on).
    pub fn stop(&mut self) {
        let stopped = match &mut self.engine {
            Engine::Local(local) => local.kill(),
            Engine::Docker(docker) => docker.kill(),
        };
        if let Err(error) = stopped.and_then(|()| self.wait_refusing()) {
            panic!("cannot stop the test redis: {error}");
        }
    }

    /// Stops the server gracefully (`SHUTDOWN` / `SIGTERM`) so it flushes its persistence, and
    /// returns once the port refuses connections.
    ///
    /// # Panics
    ///
    /// If the server cannot be stopped (test code: the test cannot go on).
    pub fn shutdown(&mut self) {
        let stopped = match &mut self.engine {
            Engine::Local(local) => local.shutdown(),
            Engine::Docker(docker) => docker.shutdown(),
        };
        if let Err(error) = stopped.and_then(|()| self.wait_refusing()) {
            panic!("cannot shut the test redis down: {error}");
        }
    }

    /// Starts the server again on the same port with the same data (killing it first if it still
    /// runs) and waits until it answers `PING`. With `appendonly`, acknowledged writes survive
    /// (all of them with [`Appendfsync::Always`] or after [`RedisServer::shutdown`]).
    pub fn restart(&mut self) -> Result<(), HarnessError> {
        match &mut self.engine {
            Engine::Local(local) => local.restart(),
            Engine::Docker(docker) => docker.restart(),
        }?;
        wait_until_ping(self.host(), self.port(), || Ok(()))
    }

    fn wait_refusing(&self) -> Result<(), HarnessError> {
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        while !resp::refuses_connections(self.host(), self.port()) {
            if Instant::now() > deadline {
                return Err(HarnessError::new(format!(
                    "redis on port {} still accepts connections after being stopped",
                    self.port()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

/// Polls `PING` until it answers or [`START_TIMEOUT`] passes; `alive` is asked between attempts
/// and may abort early (the process died).
pub(crate) fn wait_until_ping(
    host: &str,
    port: u16,
    mut alive: impl FnMut() -> Result<(), HarnessError>,
) -> Result<(), HarnessError> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if resp::answers_ping(host, port) {
            return Ok(());
        }
        alive()?;
        if Instant::now() > deadline {
            return Err(HarnessError::new(format!(
                "redis on {host}:{port} did not answer PING within {START_TIMEOUT:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(server: &RedisServer, key: &str) -> Reply {
        server.command(&["GET", key]).expect("GET must be answered")
    }

    #[test]
    fn starts_and_answers_ping() {
        let server = RedisServer::start().expect("a redis server must start");
        assert!(server.is_up());
        assert_eq!(server.command(&["PING"]), Ok(Reply::Simple("PONG".into())));
        assert!(server.url().starts_with("redis://"));
        assert!(server.url().ends_with(&format!(":{}/0", server.port())));
    }

    #[test]
    fn stop_makes_the_port_refuse_and_restart_brings_it_back() {
        let mut server = RedisServer::start().expect("a redis server must start");
        let port = server.port();
        server.stop();
        assert!(resp::refuses_connections(server.host(), port));
        assert!(server.command(&["PING"]).is_err());
        server.restart().expect("restart");
        assert_eq!(server.port(), port);
        assert!(server.is_up());
    }

    #[test]
    fn restart_keeps_aof_data_after_a_kill() {
        let mut server = RedisServer::start_with(RedisOptions {
            appendonly: true,
            appendfsync: Appendfsync::Always,
            ..RedisOptions::default()
        })
        .expect("a redis server must start");
        assert_eq!(
            server.command(&["SET", "kept", "value"]),
            Ok(Reply::Simple("OK".into()))
        );
        server.stop();
        server.restart().expect("restart");
        assert_eq!(get(&server, "kept"), Reply::Bulk(Some(b"value".to_vec())));
    }

    #[test]
    fn shutdown_flushes_and_data_without_persistence_is_lost() {
        let mut persistent = RedisServer::start_with(RedisOptions {
            appendonly: true,
            appendfsync: Appendfsync::No,
            ..RedisOptions::default()
        })
        .expect("a redis server must start");
        persistent.command(&["SET", "kept", "1"]).expect("SET");
        persistent.shutdown();
        persistent.restart().expect("restart");
        assert_eq!(get(&persistent, "kept"), Reply::Bulk(Some(b"1".to_vec())));

        let mut volatile = RedisServer::start().expect("a redis server must start");
        volatile.command(&["SET", "gone", "1"]).expect("SET");
        volatile.stop();
        volatile.restart().expect("restart");
        assert_eq!(get(&volatile, "gone"), Reply::Bulk(None));
    }

    #[test]
    fn drop_kills_the_server() {
        let server = RedisServer::start().expect("a redis server must start");
        let (host, port) = (server.host().to_owned(), server.port());
        drop(server);
        assert!(resp::refuses_connections(&host, port));
    }
}
