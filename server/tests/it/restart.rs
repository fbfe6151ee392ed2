//! Restarting the server on the same data dir keeps users, messages and tokens.

use crate::harness;

use std::time::Duration;

use harness::{PASSWORD, QUIET, TestServer, WAIT};
use reqwest::StatusCode;
use serde_json::json;
use shared::{api, errors, events, payload::ChatMessage};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_messages_and_tokens_survive_a_restart() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let alice = s.user("alice").await;
    let mut a = s.connect_user(&alice, Some("keep")).await;
    let mut acked = Vec::new();
    for i in 0..3 {
        acked.push(a.send(&format!("acked {i}")).await);
    }
    // Five more without an ack: once they are broadcast, the shutdown must still store them.
    for i in 0..5 {
        a.emit(events::CHAT_MESSAGE, json!(format!("unacked {i}"))).await;
    }
    let mut sent: Vec<ChatMessage> = Vec::new();
    for _ in 0..8 {
        sent.push(a.next_message().await);
    }
    let ids: Vec<&str> = sent.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids[..3], acked.iter().map(String::as_str).collect::<Vec<_>>());

    // A connected client sees its connection end at the shutdown (so it can reconnect).
    let mut watcher = s.connect_raw(&alice.token, "keep", None).await.expect("raw connect");
    let dir = s.stop().await;
    assert!(watcher.closed_within(WAIT).await, "the shutdown closes client connections");

    let s = TestServer::start_in(dir, &["--no-rate-limits"]).await;
    let mut again = s.connect(&alice.token, Some("keep")).await.expect("a token from before the restart");
    for m in &sent {
        assert_eq!(again.next_message().await, ChatMessage { replayed: true, ..m.clone() });
    }
    again.expect_no_event(events::CHAT_MESSAGE, QUIET).await;

    let found = s.get(&api::user_path(&alice.id)).await;
    assert_eq!(found.body, json!({ "username": alice.username }));
    let taken = s.signup(&alice.username, PASSWORD).await;
    assert_eq!((taken.status, taken.error()), (StatusCode::BAD_REQUEST, errors::USERNAME_TAKEN));
    let fresh_token = s.login_token(&alice.username, PASSWORD).await;
    s.connect(&fresh_token, None).await.expect("a token minted after the restart").disconnect().await;

    let new_id = again.send("after the restart").await;
    assert!(!ids.contains(&new_id.as_str()), "message ids stay unique across restarts");
    again.disconnect().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_in_the_middle_of_a_burst_stores_every_acked_message() {
    // Large enough that the server is still reading it when the shutdown lands (2000 was
    // read and stored whole before the shutdown in 1 CI run of 4 once idle sockets had no
    // tasks and reading got faster).
    const BURST: usize = 4000;
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let alice = s.user("burst").await;
    let mut raw = s.connect_raw(&alice.token, "burst", None).await.expect("raw connect");
    for i in 0..BURST {
        raw.send_text(&format!(r#"42{i}["chat.message","m{i}"]"#)).await;
    }
    // SIGTERM's path once the first ack is back, while the server is still in the burst.
    let mut packets = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    while !packets.iter().any(|p: &String| p.starts_with('3')) {
        assert!(std::time::Instant::now() < deadline, "no acks for the burst: {packets:?}");
        packets.extend(raw.packets_until_closed(Duration::from_millis(20)).await);
    }
    let stopping = tokio::spawn(s.stop());
    packets.extend(raw.packets_until_closed(Duration::from_secs(20)).await);
    let dir = stopping.await.expect("stop");
    let (mut acked, mut refused) = (Vec::new(), 0);
    for packet in packets {
        let Some(rest) = packet.strip_prefix('3') else { continue };
        let start = rest.find('[').expect("ack args");
        let ack: Vec<serde_json::Value> = serde_json::from_str(&rest[start..]).expect("ack json");
        match ack[0]["success"].as_bool() {
            Some(true) => acked.push(ack[0]["id"].as_str().expect("id").to_owned()),
            _ => refused += 1,
        }
    }
    eprintln!(
        "of {BURST}: {} acked, {refused} refused, {} unanswered",
        acked.len(),
        BURST - acked.len() - refused
    );
    assert!(acked.len() < BURST, "the shutdown came in the middle of the burst");
    // Everything was written before the shutdown began, so the server read it all: each
    // message was either acked (stored) or refused, none left without an answer.
    assert_eq!(acked.len() + refused, BURST, "messages dropped without an answer");

    let s = TestServer::start_in(dir, &["--no-rate-limits", "--history", &BURST.to_string()]).await;
    let mut again = s.connect(&alice.token, Some("burst")).await.expect("reconnect");
    let mut stored = Vec::new();
    while let Some(args) = again.try_next_args(events::CHAT_MESSAGE, QUIET).await {
        stored.push(serde_json::from_value::<ChatMessage>(args[0].clone()).expect("message").id);
    }
    let unique: std::collections::HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "a message stored twice");
    let missing: Vec<&String> = acked.iter().filter(|id| !unique.contains(id)).collect();
    assert!(missing.is_empty(), "{} acked messages are not in history", missing.len());
    again.disconnect().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_only_validate_under_the_secret_that_signed_them() {
    let first = "the first secret, comfortably over 32 bytes";
    let second = "the second secret, also well over 32 bytes";
    let s = TestServer::launch(tempfile::tempdir().unwrap(), Some(first), &["--no-rate-limits"]).await;
    let alice = s.user("alice").await;
    let dir = s.stop().await;

    let s = TestServer::launch(dir, Some(second), &["--no-rate-limits"]).await;
    let r = s.connect(&alice.token, None).await;
    assert_eq!(r.err().as_deref(), Some(errors::AUTH_INVALID_TOKEN));
    let token = s.login_token(&alice.username, PASSWORD).await;
    s.connect(&token, None).await.expect("a token of the current secret").disconnect().await;
    let dir = s.stop().await;

    let s = TestServer::launch(dir, Some(first), &["--no-rate-limits"]).await;
    s.connect(&alice.token, None).await.expect("the first secret is back").disconnect().await;
    s.stop().await;
}
