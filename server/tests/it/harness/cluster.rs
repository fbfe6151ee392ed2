//! Several real `chat-server` processes behind one adapter backend (a Redis of the test's own,
//! or the MongoDB test server) and one MongoDB store (a fresh database per test).

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use tempfile::TempDir;
use tokio::time::{Instant, sleep};

use super::{
    Client,
    mongo::{TestDb, free_port},
    random_u64,
};

/// The shared JWT secret every node of a test cluster uses.
pub const JWT_SECRET: &str = "cluster-test-secret-0123456789abcdef0123456789abcdef";

/// The adapter a cluster runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Redis,
    Mongodb,
}

/// A `redis-server` of one test's own on a loopback port, without persistence.
pub struct OwnRedis {
    pub port: u16,
    child: Child,
}

impl OwnRedis {
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts it on `port` and waits until it answers (a restart reuses the port).
    pub fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (scripts/install-test-deps.sh installs it)");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "redis-server did not open port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { port, child }
    }

    /// Kills it (SIGKILL: what a crash looks like to the nodes).
    pub fn kill(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `chat-server` process; a [`Client`] of it by deref.
pub struct Node {
    client: Client,
    child: Child,
    /// Everything it wrote to stderr so far, line by line.
    pub log: Arc<Mutex<Vec<String>>>,
    data_dir: TempDir,
    /// What it was started with, for [`Self::restart_after_kill9`].
    launch: (Vec<String>, Vec<String>, Vec<(String, String)>),
}

/// Runs `chat-server` in `data_dir` with `args` until it exits (it must, within 20 s): its
/// status and stderr.
pub fn run_to_exit(data_dir: &Path, args: &[&str]) -> (ExitStatus, String) {
    run_to_exit_with(data_dir, args, &[])
}

/// [`run_to_exit`] with environment variables of the test's choosing.
pub fn run_to_exit_with(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["--host", "127.0.0.1", "--port", "0", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .env_remove("JWT_SECRET")
        .env_remove("ADMIN_PASSWORD_HASH")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chat-server");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("chat-server {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

impl Node {
    /// Starts the binary with `args` (after the fixed `--host/--port/--data-dir`) and waits for
    /// its "listening on" line.
    pub async fn start(args: &[String]) -> Self {
        Self::start_with_env(args, &[]).await
    }

    /// [`Self::start`] with environment variables of the test's choosing (over the shared
    /// `JWT_SECRET` and `RUST_LOG=warn`).
    pub async fn start_with_env(args: &[String], env: &[(&str, &str)]) -> Self {
        Self::start_under(&[], args, env).await
    }

    /// [`Self::start_with_env`] run by `wrapper` (a command that execs the rest of its
    /// arguments, such as `prlimit --fsize=N --`), so the node's pid stays the child's.
    pub async fn start_under(wrapper: &[&str], args: &[String], env: &[(&str, &str)]) -> Self {
        let launch = (
            wrapper.iter().map(|w| w.to_string()).collect(),
            args.to_vec(),
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        );
        Self::launch(tempfile::tempdir().expect("data dir"), launch).await
    }

    /// SIGKILL, then the same command again on the same data dir.
    pub async fn restart_after_kill9(mut self) -> Self {
        self.kill9();
        let (data_dir, launch) =
            (std::mem::replace(&mut self.data_dir, tempfile::tempdir().expect("dir")), self.launch.clone());
        Self::launch(data_dir, launch).await
    }

    async fn launch(data_dir: TempDir, launch: (Vec<String>, Vec<String>, Vec<(String, String)>)) -> Self {
        let (wrapper, args, env) = &launch;
        let binary = env!("CARGO_BIN_EXE_chat-server");
        let (program, wrapped): (&str, Vec<&str>) = match wrapper.as_slice() {
            [program, rest @ ..] => (program, rest.iter().map(String::as_str).chain([binary]).collect()),
            [] => (binary, vec![]),
        };
        let mut child = Command::new(program)
            .args(wrapped)
            .args(["--host", "127.0.0.1", "--port", "0", "--data-dir"])
            .arg(data_dir.path())
            .args(args)
            .env("JWT_SECRET", JWT_SECRET)
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chat-server");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            let found = log.lock().unwrap_or_else(|p| p.into_inner()).iter().find_map(|l| {
                let rest = l.split("listening on http://").nth(1)?;
                rest.split_whitespace().next()?.parse::<SocketAddr>().ok()
            });
            if let Some(addr) = found {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "chat-server exited with {status}: {:?}",
                    log.lock().unwrap_or_else(|p| p.into_inner())
                );
            }
            assert!(
                Instant::now() < deadline,
                "chat-server did not start: {:?}",
                log.lock().map(|l| l.clone())
            );
            sleep(Duration::from_millis(20)).await;
        };
        Self { client: Client::new(addr), child, log, data_dir, launch }
    }

    /// SIGKILL: the node dies mid-traffic, nothing flushed.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its resident memory (`VmRSS` of /proc), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("status");
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
        line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmRSS in kB")
    }

    /// Stops it with SIGTERM and waits until it has exited (its log is then complete).
    pub fn terminate(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }

    /// The lines of its log that contain `text`.
    pub fn log_lines(&self, text: &str) -> Vec<String> {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|l| l.contains(text))
            .cloned()
            .collect()
    }
}

impl std::ops::Deref for Node {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// N nodes on one adapter backend and one store.
pub struct Cluster {
    pub nodes: Vec<Node>,
    /// The test's own Redis (`Backend::Redis`), `None` while a test has it stopped.
    pub redis: Option<OwnRedis>,
    redis_port: u16,
    pub backend: Backend,
    /// The store's (and the MongoDB adapter's) database.
    db_url: String,
    /// Dropped with the cluster, when it is the test server's.
    _db: Option<TestDb>,
    prefix: String,
    /// More flags for every node.
    extra: Vec<String>,
}

impl Cluster {
    /// Starts `n` nodes; `None` when the MongoDB tests are skipped (no test server).
    pub async fn start(backend: Backend, n: usize) -> Option<Self> {
        Self::start_with(backend, n, &[]).await
    }

    /// Like [`Self::start`], every node with the `chat-server` flags `extra` too.
    pub async fn start_with(backend: Backend, n: usize, extra: &[&str]) -> Option<Self> {
        let db = TestDb::fresh()?;
        Some(Self::start_on(backend, n, &db.url.clone(), Some(db), extra).await)
    }

    /// `n` nodes storing in the MongoDB database `db_url` (a server of the test's own).
    pub async fn start_on(
        backend: Backend,
        n: usize,
        db_url: &str,
        db: Option<TestDb>,
        extra: &[&str],
    ) -> Self {
        let redis = (backend == Backend::Redis).then(OwnRedis::start);
        let redis_port = redis.as_ref().map_or(0, |r| r.port);
        let prefix = format!("chat-test-{:x}", random_u64());
        let extra = extra.iter().map(|a| a.to_string()).collect();
        let (db_url, _db) = (db_url.to_owned(), db);
        let mut cluster =
            Cluster { nodes: Vec::new(), redis, redis_port, backend, db_url, _db, prefix, extra };
        for _ in 0..n {
            cluster.add_node().await;
        }
        cluster
    }

    /// The flags every node of this cluster runs with.
    pub fn node_args(&self) -> Vec<String> {
        let adapter = match self.backend {
            Backend::Redis => vec![
                "redis".to_owned(),
                "--redis-url".into(),
                format!("redis://127.0.0.1:{}", self.redis_port),
            ],
            Backend::Mongodb => vec!["mongodb".to_owned()],
        };
        ["--no-rate-limits", "--database-url", &self.db_url, "--adapter-prefix", &self.prefix, "--adapter"]
            .map(str::to_owned)
            .into_iter()
            .chain(adapter)
            .chain(self.extra.iter().cloned())
            .collect()
    }

    /// Starts one more node.
    pub async fn add_node(&mut self) -> &Node {
        let node = Node::start(&self.node_args()).await;
        self.nodes.push(node);
        self.nodes.last().expect("just pushed")
    }
}
