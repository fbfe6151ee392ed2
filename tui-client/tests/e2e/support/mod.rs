//! End-to-end helpers: the real `chat-server` in-process on port 0 (on a runtime of its own,
//! so tests can block freely) and the real `chat-tui` binary as a subprocess with an isolated
//! home, so no test ever touches the user's token file. Every wait has a timeout.

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use clap::Parser;
use tempfile::TempDir;

/// Longest wait for anything that should happen promptly.
pub const WAIT: Duration = Duration::from_secs(20);
/// Valid under `shared::validate::password`.
pub const PASSWORD: &str = "correct horse battery";

pub const BIN: &str = env!("CARGO_BIN_EXE_chat-tui");

/// A running server; dropping it shuts the server down.
pub struct Server {
    pub url: String,
    addr: std::net::SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
    data: Option<TempDir>,
}

impl Server {
    pub fn start() -> Self {
        Self::start_at("127.0.0.1:0".parse().expect("address"), tempfile::tempdir().expect("tempdir"))
    }

    /// With the server's default rate limits on (others run without them).
    pub fn start_limited() -> Self {
        Self::launch("127.0.0.1:0".parse().expect("address"), tempfile::tempdir().expect("tempdir"), &[])
    }

    /// Starts on `addr` (port 0: any free port) with the data in `data`.
    pub fn start_at(addr: std::net::SocketAddr, data: TempDir) -> Self {
        Self::launch(addr, data, &["--no-rate-limits"])
    }

    fn launch(addr: std::net::SocketAddr, data: TempDir, extra: &[&str]) -> Self {
        let dir = data.path().to_str().expect("utf-8 path").to_owned();
        let args = ["chat-server", "--data-dir", &dir].into_iter().chain(extra.iter().copied());
        let config = chat_server::Config::try_parse_from(args).expect("server config");
        let listener = std::net::TcpListener::bind(addr).expect("bind");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let shutdown = async move {
                    let _ = rx.await;
                };
                if let Err(e) = chat_server::run(config, listener, shutdown).await {
                    panic!("server failed: {e}");
                }
            });
        });
        Server {
            url: format!("http://{addr}"),
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
            data: Some(data),
        }
    }

    /// Shuts the server down, keeping its address and data for [`Server::start_at`].
    pub fn stop(mut self) -> (std::net::SocketAddr, TempDir) {
        self.shut_down();
        (self.addr, self.data.take().expect("data dir"))
    }

    fn shut_down(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// A home of its own: config (token file), state (log) and the environment that points there.
pub struct Home {
    pub dir: TempDir,
}

impl Home {
    pub fn new() -> Self {
        Home { dir: tempfile::tempdir().expect("tempdir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn token_file(&self) -> PathBuf {
        self.path().join("config/chat-tui/tokens.json")
    }

    /// Environment for a `chat-tui` process living in this home.
    pub fn env(&self) -> Vec<(String, String)> {
        let p = |sub: &str| self.path().join(sub).to_str().expect("utf-8 path").to_owned();
        vec![
            ("HOME".into(), p("")),
            ("XDG_CONFIG_HOME".into(), p("config")),
            ("XDG_STATE_HOME".into(), p("state")),
            ("XDG_CACHE_HOME".into(), p("cache")),
        ]
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args).env_remove("CHAT_SERVER").env_remove("CHAT_PASSWORD").env_remove("RUST_LOG");
        cmd.envs(self.env());
        cmd
    }
}

/// A `chat-tui --plain` process with its stdout and stderr read line by line.
pub struct Plain {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    out: mpsc::Receiver<String>,
    err: mpsc::Receiver<String>,
    /// Everything read from stdout so far.
    pub seen: Vec<String>,
}

fn reader(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Plain {
    /// Starts `chat-tui --plain --user NAME` with `CHAT_PASSWORD` and `extra` arguments.
    pub fn spawn(home: &Home, server: &str, user: &str, password: &str, extra: &[&str]) -> Self {
        let mut args = vec!["--server", server, "--user", user, "--plain"];
        args.extend_from_slice(extra);
        let mut cmd = home.command(&args);
        cmd.env("CHAT_PASSWORD", password)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn chat-tui");
        let stdin = child.stdin.take();
        let out = reader(child.stdout.take().expect("stdout"));
        let err = reader(child.stderr.take().expect("stderr"));
        Plain { name: user.to_owned(), child, stdin, out, err, seen: Vec::new() }
    }

    /// Waits for a stderr line containing `needle`.
    pub fn expect_stderr(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.err.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("{}: no stderr line with {needle:?} ({e})", self.name),
            }
        }
    }

    /// Waits until connected.
    pub fn connected(mut self) -> Self {
        self.expect_stderr("connected to ");
        self
    }

    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").and_then(|()| stdin.flush()).expect("write to chat-tui");
    }

    /// The next stdout line.
    pub fn next_line(&mut self) -> String {
        let line = self.out.recv_timeout(WAIT).unwrap_or_else(|e| panic!("{}: no output ({e})", self.name));
        self.seen.push(line.clone());
        line
    }

    /// Reads stdout until `expected` comes, returning the lines before it.
    pub fn expect_line(&mut self, expected: &str) -> Vec<String> {
        let mut before = Vec::new();
        loop {
            let line = self.next_line();
            if line == expected {
                return before;
            }
            before.push(line);
        }
    }

    /// Closes stdin and waits for the exit; returns the status and the rest of stdout.
    pub fn finish(mut self) -> (ExitStatus, Vec<String>) {
        drop(self.stdin.take());
        let status = wait_with_timeout(&mut self.child, &self.name);
        // The process is gone, so its pipes reach EOF and the readers end.
        let rest: Vec<String> = self.out.iter().collect();
        self.seen.extend(rest);
        (status, std::mem::take(&mut self.seen))
    }

    /// Waits for the process to exit on its own (stdin still open); returns status and stderr.
    pub fn exit(mut self) -> (ExitStatus, Vec<String>) {
        let status = wait_with_timeout(&mut self.child, &self.name);
        (status, self.err.iter().collect())
    }
}

impl Drop for Plain {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_with_timeout(child: &mut Child, name: &str) -> ExitStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "{name}: did not exit within {WAIT:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Creates an account through the client itself (`--signup`) and stores its token.
pub fn signup(home: &Home, server: &str, user: &str) {
    let mut child = home
        .command(&["--server", server, "--user", user, "--signup", "--plain"])
        .env("CHAT_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run chat-tui --signup");
    let status = wait_with_timeout(&mut child, user);
    let mut err = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
    }
    assert!(status.success(), "signup {user}: {err}");
}
