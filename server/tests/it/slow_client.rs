//! A client that stops reading must not silently miss messages: once its send buffer is
//! full, the server disconnects it (so it reconnects and catches up from history), and
//! everyone else carries on. A client that stops answering Engine.IO pings is closed after the
//! ping timeout; one that answers stays.

use crate::harness;

use std::time::Duration;

use harness::TestServer;
use serde_json::{Value, json};
use shared::events;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_disconnected_and_the_room_carries_on() {
    let server = TestServer::start(&["--no-rate-limits", "--socket-buffer", "128"]).await;
    let (reader, stalled) = (server.user("reader").await, server.user("stalled").await);
    let room = harness::unique_name("slow");
    let sender = server.connect_user(&reader, Some(&room)).await;
    // Connected, then never read again: its TCP buffers fill, then its 128-packet queue.
    let mut slow = server.connect_raw(&stalled.token, &room, None).await.expect("raw connect");

    // 24 MB of broadcasts: well past what loopback TCP buffers (a few MB each way) absorb.
    let text = "x".repeat(4000);
    // The sender keeps up: every 32nd message waits for its ack, by which time the echoes
    // before it have been read, so its own queue stays far below 128.
    for i in 1..=6000 {
        if i % 32 == 0 {
            sender.send(&text).await;
        } else {
            sender.emit(events::CHAT_MESSAGE, json!(text)).await;
        }
    }
    let last = sender.send("still here").await;
    assert_eq!(last.len(), 24, "the sender is still served");

    // Reading now drains what was buffered, then finds the connection closed by the server.
    assert!(
        slow.closed_within(Duration::from_secs(30)).await,
        "a client whose buffer overflowed must be disconnected, not skipped silently"
    );
    // Reconnecting replays the room's latest history, ending with the newest message.
    let mut again = server.connect_user(&stalled, Some(&room)).await;
    let mut replayed = Vec::new();
    while replayed.last().is_none_or(|m: &shared::payload::ChatMessage| m.id != last) {
        let m = again.next_message().await;
        assert!(m.replayed, "history comes first: {m:?}");
        replayed.push(m);
    }
    assert_eq!(replayed.len(), shared::defaults::HISTORY_LEN);
    again.disconnect().await;
    sender.disconnect().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_answering_pings_is_closed_and_one_that_answers_stays() {
    let server =
        TestServer::start(&["--no-rate-limits", "--ping-interval-ms", "200", "--ping-timeout-ms", "1000"])
            .await;
    let (alive, silent) = (server.user("alive").await, server.user("silent").await);
    let mut answering = server.connect_user(&alive, None).await;
    // Answers pings only while it reads, and it does not read for a while.
    let mut mute =
        server.connect_raw(&silent.token, shared::defaults::ROOM, None).await.expect("raw connect");

    // The first ping goes at 200 ms, its pong is due by 1.2 s; a second to spare on a busy
    // machine, where the answering client has a whole second for each pong.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        mute.closed_within(Duration::from_secs(5)).await,
        "a client that does not answer pings must be closed"
    );
    let forgotten = answering.emit_with_ack(events::USER_INFO, json!(mute.sid), harness::WAIT).await;
    assert_eq!(forgotten, Value::Null, "the server forgot the silent socket");

    let own = answering.emit_with_ack(events::USER_INFO, json!(answering.sid), harness::WAIT).await;
    assert_eq!(own["socketId"], json!(answering.sid), "the answering client is still connected");
    answering.send("still here").await;
    answering.expect_no_event(events::ERROR, Duration::from_millis(300)).await;
    answering.disconnect().await;
    server.stop().await;
}
