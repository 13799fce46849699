//! A `redis` container started with testcontainers, driven from a worker thread that owns its
//! own Tokio runtime (so the kit's API stays synchronous and works inside or outside a runtime).

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use testcontainers::core::{ContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::HarnessError;
use crate::server::{RedisOptions, SHUTDOWN_TIMEOUT, START_TIMEOUT};
use crate::watchdog::{Watchdog, free_port};

/// Image used when Docker is available.
const IMAGE: (&str, &str) = ("redis", "7.2");

/// How long `docker info` may take to prove an engine answers.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// True when `docker info` exits 0 within [`PROBE_TIMEOUT`] (a client without an engine fails).
pub(crate) fn engine_answers() -> bool {
    let Ok(mut probe) = Command::new("docker")
        .arg("info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let deadline = Instant::now() + PROBE_TIMEOUT;
    loop {
        match probe.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = probe.kill();
                let _ = probe.wait();
                return false;
            }
        }
    }
}

/// What the worker thread is asked to do.
enum Request {
    /// `docker kill`-like stop (no grace period).
    Kill,
    /// Stop with `SIGTERM` so Redis flushes its persistence.
    Shutdown,
    /// Start the stopped container again.
    Start,
}

type Reply = Result<(), HarnessError>;

/// A running (or stopped) container; removed when dropped.
#[derive(Debug)]
pub(crate) struct DockerRedis {
    host: String,
    port: u16,
    requests: Option<mpsc::Sender<(Request, mpsc::Sender<Reply>)>>,
    worker: Option<JoinHandle<()>>,
    /// Removes the container if this process dies without dropping us.
    watchdog: Option<Watchdog>,
}

impl DockerRedis {
    /// Starts a container whose port 6379 is published on a fixed host port (so a restart keeps it).
    pub(crate) fn start(options: RedisOptions) -> Result<Self, HarnessError> {
        let (requests, inbox) = mpsc::channel();
        let (started_sender, started) = mpsc::channel();
        let worker = std::thread::Builder::new()
            .name("miroir-test-redis-docker".into())
            .spawn(move || worker(options, &started_sender, &inbox))
            .map_err(|error| {
                HarnessError::new(format!("cannot spawn the docker worker: {error}"))
            })?;
        let (host, port, container_id) = started
            .recv_timeout(START_TIMEOUT * 6)
            .map_err(|_| HarnessError::new("the redis container did not start in time"))??;
        let watchdog = Watchdog::spawn("docker rm -f -v", &container_id).ok();
        Ok(Self {
            host,
            port,
            requests: Some(requests),
            worker: Some(worker),
            watchdog,
        })
    }

    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn kill(&mut self) -> Result<(), HarnessError> {
        self.ask(Request::Kill)
    }

    pub(crate) fn shutdown(&mut self) -> Result<(), HarnessError> {
        self.ask(Request::Shutdown)
    }

    pub(crate) fn restart(&mut self) -> Result<(), HarnessError> {
        // The container may already be stopped, which Docker reports as an error: only the start
        // matters.
        let _ = self.ask(Request::Kill);
        self.ask(Request::Start)
    }

    fn ask(&self, request: Request) -> Result<(), HarnessError> {
        let gone = || HarnessError::new("the docker worker thread is gone");
        let (reply_sender, reply) = mpsc::channel();
        self.requests
            .as_ref()
            .ok_or_else(gone)?
            .send((request, reply_sender))
            .map_err(|_| gone())?;
        reply.recv().map_err(|_| gone())?
    }
}

impl Drop for DockerRedis {
    fn drop(&mut self) {
        // Closing the request channel makes the worker remove the container and exit.
        self.requests = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            watchdog.disarm();
        }
    }
}

type Started = Result<(String, u16, String), HarnessError>;

/// Owns the runtime and the container for its whole life.
fn worker(
    options: RedisOptions,
    started: &mpsc::Sender<Started>,
    inbox: &mpsc::Receiver<(Request, mpsc::Sender<Reply>)>,
) {
    let docker_error = |error: testcontainers::TestcontainersError| {
        HarnessError::new(format!("docker redis: {error}"))
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = started.send(Err(HarnessError::new(format!("tokio runtime: {error}"))));
            return;
        }
    };
    let container = runtime.block_on(async {
        let port = free_port("0.0.0.0")?;
        let mut command = vec!["redis-server".to_owned()];
        command.extend(options.server_args());
        let container = GenericImage::new(IMAGE.0, IMAGE.1)
            .with_exposed_port(ContainerPort::Tcp(6379))
            .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
            .with_mapped_port(port, ContainerPort::Tcp(6379))
            .with_cmd(command)
            .with_startup_timeout(START_TIMEOUT * 5)
            .start()
            .await
            .map_err(docker_error)?;
        let host = container
            .get_host()
            .await
            .map_err(docker_error)?
            .to_string();
        let host = if host == "localhost" {
            "127.0.0.1".to_owned()
        } else {
            host
        };
        Ok::<_, HarnessError>((container, host, port))
    });
    let container: ContainerAsync<GenericImage> = match container {
        Ok((container, host, port)) => {
            let id = container.id().to_owned();
            if started.send(Ok((host, port, id))).is_err() {
                runtime.block_on(async move { drop(container) });
                return;
            }
            container
        }
        Err(error) => {
            let _ = started.send(Err(error));
            return;
        }
    };
    while let Ok((request, reply)) = inbox.recv() {
        let grace = i32::try_from(SHUTDOWN_TIMEOUT.as_secs()).unwrap_or(10);
        let outcome = runtime.block_on(async {
            match request {
                Request::Kill => container.stop_with_timeout(Some(0)).await,
                Request::Shutdown => container.stop_with_timeout(Some(grace)).await,
                Request::Start => container.start().await,
            }
        });
        let _ = reply.send(outcome.map_err(docker_error));
    }
    // The container's `Drop` removes it and needs a runtime context.
    runtime.block_on(async move { drop(container) });
}
