//! MongoDB for the tests: the shared test server named by `TEST_MONGODB_URL`, a fresh database
//! per test on it, and SecantusDB servers of a test's own for outage tests.
//!
//! `TEST_MONGODB_URL=mongodb://HOST:PORT/DB` names the server (`scripts/mongo-test-server.sh
//! start` starts SecantusDB and prints it; a real MongoDB works too). Without the variable the
//! MongoDB tests print a skip line and return; with `CHAT_REQUIRE_MONGO=1` (CI) they fail
//! instead, so a run can never pass untested.

use std::{io::Write, path::Path, process::Command, sync::Once, time::Duration};

use chat_server::store::new_id;
use mongodb::Database;

/// The test server's URL; `None` (after saying so) when there is none and none is required.
fn test_server_url() -> Option<String> {
    // The test harness names each test's thread after the test.
    let current = std::thread::current();
    let test = current.name().unwrap_or("a MongoDB test");
    match std::env::var("TEST_MONGODB_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CHAT_REQUIRE_MONGO").as_deref() == Ok("1") => panic!(
            "{test}: CHAT_REQUIRE_MONGO=1 but TEST_MONGODB_URL is unset; \
             run eval \"$(scripts/mongo-test-server.sh start)\" first"
        ),
        _ => {
            // Straight to stderr, not `eprintln!`, which the harness captures (and hides) for
            // passing tests; once per test binary, not once per test.
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED the MongoDB tests of {}: TEST_MONGODB_URL is unset, so nothing was tested \
                     against MongoDB (eval \"$(scripts/mongo-test-server.sh start)\" to run them)",
                    env!("CARGO_CRATE_NAME")
                );
            });
            None
        }
    }
}

/// Whether a test may start and stop SecantusDB servers of its own: only when the test server
/// is the script's (`MONGO_TEST_PID` set). Says why on stderr when it may not.
pub fn own_servers_allowed() -> bool {
    if test_server_url().is_none() {
        return false;
    }
    if std::env::var("MONGO_TEST_PID").is_ok() {
        return true;
    }
    let current = std::thread::current();
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {}: it stops and restarts a SecantusDB of its own with scripts/mongo-test-server.sh, \
         and MONGO_TEST_PID is unset (TEST_MONGODB_URL is not that script's server)",
        current.name().unwrap_or("a MongoDB outage test")
    );
    false
}

/// A fresh database `chat_test_<random>` on the test server, dropped again when the test
/// ends so a real MongoDB does not collect them.
pub struct TestDb {
    pub url: String,
}

impl TestDb {
    /// The test server's URL with its database replaced by a new one (any `?options` kept);
    /// `None` when the MongoDB tests are skipped.
    pub fn fresh() -> Option<Self> {
        let base = test_server_url()?;
        let authority_start = base.find("://").map_or(0, |i| i + 3);
        let (head, query) = base.split_at(base.find('?').unwrap_or(base.len()));
        let server = match head[authority_start..].find('/') {
            Some(slash) => &head[..authority_start + slash],
            None => head,
        };
        Some(Self { url: format!("{server}/chat_test_{}{query}", new_id()) })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let url = self.url.clone();
        // Drop runs inside the test's runtime, which must not block on itself: own thread,
        // own runtime, bounded. Best effort; a failure only leaves a database behind.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            let drop_db = async { raw_db(&url).await.drop().await };
            let _ = runtime.block_on(async { tokio::time::timeout(Duration::from_secs(5), drop_db).await });
        });
        let _ = cleanup.join();
    }
}

/// A plain driver handle on the database of `url`, to look under the store.
pub async fn raw_db(url: &str) -> Database {
    let client = mongodb::Client::with_uri_str(url).await.expect("driver client for the raw view");
    client.default_database().expect("test URLs name a database")
}

/// A free loopback port for [`OwnServer::start`].
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

/// A SecantusDB of one test's own (so the shared one stays up), started with the project's
/// script; stopped when dropped, even if the test fails.
pub struct OwnServer {
    pid: String,
    /// `mongodb://127.0.0.1:PORT/chat_test`.
    pub url: String,
}

impl OwnServer {
    /// Starts it on `port`, storing in `dir`: starting again on the same port and dir brings
    /// the same server, with its data, back.
    pub fn start(port: u16, dir: &Path) -> Self {
        let out = Command::new(script())
            .args(["start", &port.to_string(), &dir.to_string_lossy()])
            .output()
            .expect("run scripts/mongo-test-server.sh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "start failed: {}", String::from_utf8_lossy(&out.stderr));
        let var = |name: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")).map(str::to_owned))
                .unwrap_or_else(|| panic!("no {name} in {stdout}"))
        };
        Self { pid: var("MONGO_TEST_PID"), url: var("TEST_MONGODB_URL") }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = Command::new(script()).args(["stop", &self.pid]).status();
    }
}

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/mongo-test-server.sh")
}
