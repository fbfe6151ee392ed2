//! What an operator watches, on the real binary: Prometheus metrics on the main port or an
//! address of their own, and JSON logs with an access log line per request.

use crate::harness;

use std::time::Duration;

use harness::{
    PASSWORD, WAIT,
    cluster::{Node, run_to_exit_with},
    eventually, unique_name,
};
use serde_json::{Value, json};
use shared::{api, defaults, errors, events};

/// The value of the sample `line` (name with labels, as Prometheus prints it) in `text`.
fn sample(text: &str, line: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(line)?.strip_prefix(' ')?.parse().ok())
}

async fn metrics_at(http: &reqwest::Client, url: &str) -> (u16, String, String) {
    let reply = http.get(url).send().await.expect("GET /metrics");
    let status = reply.status().as_u16();
    let kind =
        reply.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, kind, reply.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_sockets_messages_acks_logins_refusals_and_store_calls() {
    let node = Node::start(&["--no-rate-limits".into()]).await;
    let name = unique_name("metered");
    assert_eq!(node.signup(&name, PASSWORD).await.status, 201);
    assert_eq!(node.login(&name, "a wrong password").await.status, 401);
    let token = node.login_token(&name, PASSWORD).await;
    let mut socket = node.connect_raw(&token, defaults::ROOM, None).await.expect("connect");
    socket.send_ok("counted").await;
    let refused = node.connect_raw("not.a.token", defaults::ROOM, None).await.err();
    assert_eq!(refused.as_deref(), Some(errors::AUTH_INVALID_TOKEN));

    let (status, kind, text) = metrics_at(node.http(), &node.url(api::METRICS_PATH)).await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/plain"), "{kind}");
    for (line, value) in [
        ("chat_sockets_connected", 1.0),
        ("chat_socket_connects_total", 1.0),
        ("chat_messages_received_total", 1.0),
        ("chat_messages_broadcast_total", 1.0),
        ("chat_acks_total{event=\"chat.message\",outcome=\"ok\"}", 1.0),
        ("chat_logins_total{outcome=\"ok\"}", 1.0),
        ("chat_logins_total{outcome=\"failed\"}", 1.0),
        ("chat_signups_total{outcome=\"ok\"}", 1.0),
        ("chat_handshake_refusals_total{reason=\"invalid_token\"}", 1.0),
        ("chat_adapter_up", 1.0),
    ] {
        assert_eq!(sample(&text, line), Some(value), "{line} in\n{text}");
    }
    // The join notice and the message, at least: the count is per process, and other tests of
    // this binary run servers in it too.
    assert!(sample(&text, "chat_deliveries_total").is_some_and(|n| n >= 2.0), "{text}");
    assert!(text.contains("# HELP chat_store_call_seconds"), "{text}");
    assert!(
        text.contains("chat_store_call_seconds_bucket{backend=\"sqlite\",call=\"user_by_name\""),
        "{text}"
    );
    assert!(text.contains("chat_writer_batch_messages_count"), "{text}");

    socket.close().await;
    let (http, url) = (node.http().clone(), node.url(api::METRICS_PATH));
    eventually("the disconnect counted", WAIT, || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let text = metrics_at(&http, &url).await.2;
            (sample(&text, "chat_sockets_connected") == Some(0.0)
                && text.lines().any(|l| l.starts_with("chat_socket_disconnects_total{reason=")))
            .then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_an_address_of_their_own_leave_the_main_port() {
    let port = harness::mongo::free_port();
    let node = Node::start(&["--metrics-addr".into(), format!("127.0.0.1:{port}")]).await;
    let (status, _, text) =
        metrics_at(node.http(), &format!("http://127.0.0.1:{port}{}", api::METRICS_PATH)).await;
    assert_eq!(status, 200);
    assert!(text.contains("chat_adapter_up 1"), "{text}");
    assert_eq!(node.get(api::METRICS_PATH).await.status, 404, "not on the port clients reach");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_have_an_access_line_per_request_and_no_secret() {
    let mut node =
        Node::start_with_env(&["--log-format".into(), "json".into()], &[("RUST_LOG", "info")]).await;
    let name = unique_name("logged");
    assert_eq!(node.signup(&name, PASSWORD).await.status, 201);
    let token = node.login_token(&name, PASSWORD).await;
    let mut socket = node.connect_raw(&token, defaults::ROOM, None).await.expect("connect");
    socket.emit(events::CHAT_MESSAGE, &[json!("hello")]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    socket.close().await;
    node.terminate();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = node.log.lock().expect("log").clone();
    let objects: Vec<Value> = log
        .iter()
        .filter(|l| !l.starts_with("chat-server listening on"))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access = objects
        .iter()
        .find(|o| o["span"]["path"] == json!(api::LOGIN_PATH) && o["fields"]["status"] == json!(200));
    assert!(access.is_some(), "an access line for the login: {log:#?}");
    for line in &log {
        assert!(!line.contains(PASSWORD) && !line.contains(&token), "a secret in {line}");
    }
}

#[test]
fn the_admin_ui_refuses_to_start_without_what_it_needs() {
    let dir = tempfile::tempdir().expect("data dir");
    let bcrypt = "$2b$10$ZTanUj0E2Q1kH6wIB9nC4.AZfgFW9RsRI1HSvVn5KYNNx5sZbAi3q";
    /// Flags, environment, what the refusal says.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 4] = [
        (&["--admin-ui"], &[], "needs --admin-username"),
        (&["--admin-ui", "--admin-username", "a"], &[], "ADMIN_PASSWORD_HASH"),
        (
            &["--admin-ui", "--admin-username", "a"],
            &[("ADMIN_PASSWORD_HASH", "plaintext")],
            "must be a bcrypt hash",
        ),
        (
            &["--admin-ui", "--admin-username", "a", "--admin-namespace", "/"],
            &[("ADMIN_PASSWORD_HASH", bcrypt)],
            "must start with / and not be /",
        ),
    ];
    for (args, env, expected) in cases {
        let (status, stderr) = run_to_exit_with(dir.path(), args, env);
        assert!(!status.success(), "{args:?} started");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
