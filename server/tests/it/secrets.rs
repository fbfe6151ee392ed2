//! Secrets stay secret: no password, token or signing secret in any log line at any level, and
//! no start with a JWT secret file that others can read.

use crate::harness;

use std::{fs, os::unix::fs::PermissionsExt, time::Duration};

use harness::{
    WAIT,
    cluster::{JWT_SECRET, Node, run_to_exit},
};
use serde_json::json;
use shared::{defaults, events};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_token_or_secret_reaches_the_log_at_trace_level() {
    let mut node = Node::start_with_env(&[], &[("RUST_LOG", "trace")]).await;
    let (name, password, wrong) = ("loggeduser", "the right password 1", "the wrong password 2");
    assert_eq!(node.signup(name, password).await.status, 201);
    assert_eq!(node.login(name, wrong).await.status, 401);
    let token = node.login_token(name, password).await;
    let mut socket = node.connect_raw(&token, defaults::ROOM, None).await.expect("connect");
    socket.send_ok("a message").await;
    socket.emit(events::USER_INFO, &[json!(socket.sid.clone())]).await;
    socket.close().await;
    let forged = format!("{token}x");
    assert!(node.connect_raw(&forged, defaults::ROOM, None).await.is_err());

    node.terminate();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = node.log.lock().expect("log").join("\n");
    assert!(log.contains("signed up") && log.contains("login failed"), "logging was on: {log}");
    let signature = token.rsplit('.').next().expect("a JWT has a signature");
    for secret in [password, wrong, &token, signature, JWT_SECRET] {
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(secret)).collect();
        assert!(lines.is_empty(), "{secret:?} is in the log: {lines:#?}");
    }
}

#[test]
fn a_jwt_secret_file_others_can_read_stops_start_up() {
    let dir = tempfile::tempdir().expect("data dir");
    let secret = dir.path().join("jwt-secret");
    fs::write(&secret, "0123456789abcdef0123456789abcdef0123456789abcdef").expect("write secret");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).expect("chmod");
    let (status, stderr) = run_to_exit(dir.path(), &[]);
    assert!(!status.success(), "started with a world-readable secret: {stderr}");
    assert!(stderr.contains("readable by others") && stderr.contains("chmod 600"), "{stderr}");

    // Once private, the same file is used.
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).expect("chmod");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["--host", "127.0.0.1", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .env_remove("JWT_SECRET")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start");
    let started = std::time::Instant::now();
    let mut line = String::new();
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    while !line.contains("listening on") && started.elapsed() < WAIT {
        line.clear();
        if std::io::BufRead::read_line(&mut stderr, &mut line).unwrap_or(0) == 0 {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("listening on"), "did not start with a private secret: {line}");
}
