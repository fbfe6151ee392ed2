//! Restarting the server on the same data dir keeps users, messages and tokens.

use crate::harness;

use std::time::Duration;

use harness::{PASSWORD, QUIET, TestServer, WAIT};
use reqwest::StatusCode;
use serde_json::json;
use shared::{
    api, errors, events,
    payload::{Ack, ChatMessage},
};

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
    const BURST: usize = 4000;
    // Sent in chunks, reading what comes back between them, so that the server is still
    // reading the burst when the shutdown begins (a burst written at once is read whole in a
    // few milliseconds, before the first ack).
    const CHUNK: usize = 50;
    // Each message brings back an ack and its broadcast: room for all of them, so that this
    // client is never disconnected as too slow.
    let buffer = (3 * BURST).to_string();
    let mut server = Some(TestServer::start(&["--no-rate-limits", "--socket-buffer", &buffer]).await);
    let alice = server.as_ref().expect("server").user("burst").await;
    let mut raw =
        server.as_ref().expect("server").connect_raw(&alice.token, "burst", None).await.expect("raw connect");
    let (mut packets, mut stopping, mut sent_before_stop) = (Vec::new(), None, 0);
    'burst: for chunk in (0..BURST).collect::<Vec<_>>().chunks(CHUNK) {
        for i in chunk {
            if !raw.try_send_text(&format!(r#"42{i}["chat.message","m{i}"]"#)).await {
                break 'burst;
            }
        }
        packets.extend(raw.packets_until_closed(Duration::from_millis(2)).await);
        // SIGTERM's path once the first ack is back.
        if stopping.is_none() && packets.iter().any(|p: &String| p.starts_with('3')) {
            sent_before_stop = chunk[chunk.len() - 1] + 1;
            stopping = server.take().map(|s| tokio::spawn(s.stop()));
        }
    }
    let stopping = stopping.expect("no ack came back for the whole burst");
    packets.extend(raw.packets_until_closed(Duration::from_secs(20)).await);
    let dir = stopping.await.expect("stop");
    assert!(sent_before_stop < BURST, "the shutdown began in the middle of the burst");
    // Ack ids are the burst's indexes. Refusals go out at once and acks once stored, so they
    // interleave on the wire; a socket's full event queue refuses too, as it should.
    let mut answers: Vec<Option<Answer>> = vec![None; BURST];
    for packet in packets {
        let Some(rest) = packet.strip_prefix('3') else { continue };
        let start = rest.find('[').expect("ack args");
        let index: usize = rest[..start].parse().expect("ack id");
        let ack: Vec<Ack<serde_json::Value>> = serde_json::from_str(&rest[start..]).expect("ack json");
        let answer = match (ack[0].success, &ack[0].data, ack[0].error.as_deref()) {
            (true, Some(data), _) => Answer::Stored(data["id"].as_str().expect("id").to_owned()),
            (false, _, Some(errors::RATE_LIMITED)) => Answer::Busy,
            (false, _, Some(errors::SERVICE_UNAVAILABLE)) => Answer::Closing,
            _ => panic!("unexpected ack for message {index}: {rest}"),
        };
        assert!(answers[index].replace(answer).is_none(), "message {index} answered twice");
    }
    let answered = answers.iter().take_while(|a| a.is_some()).count();
    let answers: Vec<Answer> = answers.into_iter().flatten().collect();
    let count = |kind: fn(&Answer) -> bool| answers.iter().filter(|a| kind(a)).count();
    eprintln!(
        "of {BURST}: {} stored, {} refused as busy, {} refused at shutdown, {} unanswered",
        count(|a| matches!(a, Answer::Stored(_))),
        count(|a| matches!(a, Answer::Busy)),
        count(|a| matches!(a, Answer::Closing)),
        BURST - answered
    );
    // Every message read while the socket was open has one answer: the answered ones have no
    // holes (what was read after the socket closed has none, which tells its client "unknown,
    // send again"). Messages are handled in the order they were read: once the shutdown began,
    // none is stored.
    assert_eq!(answers.len(), answered, "message {answered} unanswered while a later one was answered");
    let first_closing = answers.iter().position(|a| matches!(a, Answer::Closing)).unwrap_or(answered);
    let last_stored = answers.iter().rposition(|a| matches!(a, Answer::Stored(_)));
    assert!(
        last_stored.is_some_and(|last| last < first_closing),
        "stored after the shutdown: {last_stored:?}"
    );

    let s = TestServer::start_in(dir, &["--no-rate-limits", "--history", &BURST.to_string()]).await;
    let mut again = s.connect(&alice.token, Some("burst")).await.expect("reconnect");
    let mut stored = Vec::new();
    while let Some(args) = again.try_next_args(events::CHAT_MESSAGE, QUIET).await {
        stored.push(serde_json::from_value::<ChatMessage>(args[0].clone()).expect("message"));
    }
    let ids: std::collections::HashSet<&str> = stored.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids.len(), stored.len(), "a message stored twice");
    for (i, answer) in answers.iter().enumerate() {
        let in_history = match answer {
            Answer::Stored(id) => ids.contains(id.as_str()),
            Answer::Busy | Answer::Closing => stored.iter().any(|m| m.message == format!("m{i}")),
        };
        assert_eq!(in_history, matches!(answer, Answer::Stored(_)), "message {i}: {answer:?}");
    }
    again.disconnect().await;
    s.stop().await;
}

/// How the server answered one message of the burst.
#[derive(Clone, Debug)]
enum Answer {
    /// Acked with the stored message's id.
    Stored(String),
    /// Refused: the socket's event queue was full.
    Busy,
    /// Refused: the shutdown had begun.
    Closing,
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
