//! Faults of the machine rather than the client, on the real binary: a disk that stops taking
//! writes, thousands of sockets coming and going, and hostile nesting in a packet.

use crate::harness;

use std::{process::Command, time::Duration};

use futures_util::{StreamExt, stream};
use harness::{QUIET, WAIT, cluster::Node};
use serde_json::{Value, json};
use shared::{defaults, errors, events};

/// Sends numbered messages until one is refused; returns the ids acked before it.
async fn send_until_refused(socket: &mut harness::RawClient, limit: usize) -> Vec<String> {
    let mut stored = Vec::new();
    for i in 0..limit {
        let ack = socket
            .emit_with_ack(events::CHAT_MESSAGE, &[json!(format!("filler {i} {}", "x".repeat(200)))])
            .await;
        if ack["success"] == json!(true) {
            stored.push(ack["id"].as_str().expect("id").to_owned());
            continue;
        }
        assert_eq!(ack, json!({"success": false, "error": errors::MESSAGE_NOT_STORED}));
        assert_eq!(
            socket.next_event(events::ERROR, WAIT).await,
            json!({"message": errors::MESSAGE_NOT_STORED})
        );
        return stored;
    }
    panic!("{limit} messages all stored: the file size limit never bit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_keeps_serving_reads_and_recovers() {
    // The store may grow to 512 KiB: what a full small filesystem looks like to SQLite.
    // (Soft limit only, so that lifting it later needs no privilege.)
    let limit = ["prlimit", "--fsize=524288:unlimited", "--"];
    let node = Node::start_under(&limit, &["--no-rate-limits".into()], &[]).await;
    let alice = node.user("alice").await;
    let mut socket = node.connect_raw(&alice.token, "disk", None).await.expect("connect");
    let stored = send_until_refused(&mut socket, 20_000).await;
    assert!(!stored.is_empty(), "some messages fitted");
    // The log is read by a thread of its own: give the line a moment to arrive.
    let told = || node.log_lines("size limit").len() + node.log_lines("not stored").len() > 0;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !told() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(told(), "the operator is told");

    // Reads keep working: a login, a lookup, and history for a new member.
    let token = node.login_token(&alice.username, harness::PASSWORD).await;
    let info = socket.emit_with_ack(events::USER_INFO, &[json!(socket.sid.clone())]).await;
    assert_eq!(info["user"]["username"], json!(alice.username));
    let mut reader = node.connect_raw(&token, "disk", None).await.expect("a reader connects");
    let replayed = reader.packets_until_closed(QUIET).await;
    let last = stored.last().expect("stored");
    assert!(replayed.iter().any(|p| p.contains(last.as_str())), "history replays what was stored");

    // Room to write again: the same socket's next message is stored.
    let raised =
        Command::new("prlimit").args(["--pid", &node.pid().to_string(), "--fsize=unlimited"]).status();
    assert!(raised.expect("prlimit").success());
    let ack = socket.emit_with_ack(events::CHAT_MESSAGE, &[json!("after the disk has room")]).await;
    assert_eq!(ack["success"], json!(true), "{ack}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_a_burst_then_restart_keeps_every_acked_message_once_in_order() {
    const BURST: usize = 6000;
    // The sender reads only after it has written the whole burst, so its acks and echoes
    // (two packets per message) wait in the server meanwhile: room for all of them, or the
    // server rightly drops it as a slow client (the faster the server, the likelier).
    let buffer = (3 * BURST).to_string();
    let args =
        ["--no-rate-limits", "--history", &BURST.to_string(), "--socket-buffer", &buffer].map(String::from);
    let node = Node::start(&args).await;
    let alice = node.user("alice").await;
    let mut sender = node.connect_raw(&alice.token, "burst", None).await.expect("connect");
    for i in 0..BURST {
        sender.send_text(&format!(r#"42{i}["chat.message","m{i}"]"#)).await;
    }
    let acks = |packets: &[String]| -> Vec<String> {
        packets
            .iter()
            .filter(|p| p.starts_with('3'))
            .filter_map(|p| serde_json::from_str::<Value>(&p[p.find('[')?..]).ok())
            .filter(|answer| answer[0]["success"] == json!(true))
            .filter_map(|answer| answer[0]["id"].as_str().map(str::to_owned))
            .collect()
    };
    // Die once a tenth of the burst is acked, with the rest in flight.
    let mut packets = Vec::new();
    while acks(&packets).len() < BURST / 10 {
        let more = sender.read_packets(100, WAIT).await;
        assert!(!more.is_empty(), "the burst stalled after {} acks", acks(&packets).len());
        packets.extend(more);
    }
    let node = node.restart_after_kill9().await;
    packets.extend(sender.packets_until_closed(WAIT).await);
    let acked = acks(&packets);
    assert!(acked.len() < BURST, "the kill came before the end of the burst");

    // Everything acked is in history once, and history is in the order it was sent.
    let mut reader = node.connect_raw(&alice.token, "burst", None).await.expect("reconnect after restart");
    let history: Vec<Value> = reader
        .packets_until_closed(WAIT)
        .await
        .iter()
        .filter_map(|p| serde_json::from_str::<Value>(p.strip_prefix('2')?).ok())
        .filter(|v| v[0] == json!(events::CHAT_MESSAGE) && v[1]["username"].is_string())
        .map(|v| v[1].clone())
        .collect();
    let ids: Vec<&str> = history.iter().filter_map(|m| m["id"].as_str()).collect();
    let unique: std::collections::HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no message twice");
    for id in &acked {
        assert!(unique.contains(id.as_str()), "acked {id} lost");
    }
    let numbers: Vec<usize> =
        history.iter().filter_map(|m| m["message"].as_str()?.strip_prefix('m')?.parse().ok()).collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "history in send order: {numbers:?}");
    eprintln!("{} acked before kill -9, {} in history after restart", acked.len(), ids.len());
}

/// The server's RSS once it has stayed the same for a while (the heap trimmer runs at most
/// once a second, and once more after a burst: `chat_server::memory`), or after 20 s.
async fn settled_rss_kib(node: &Node) -> u64 {
    let (mut last, mut same) = (node.rss_kib(), 0);
    for _ in 0..80 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = node.rss_kib();
        same = if now == last { same + 1 } else { 0 };
        last = now;
        if same == 8 {
            break;
        }
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_sockets_again_and_again_leave_memory_where_it_levelled_off() {
    const SOCKETS: usize = 2000;
    const ROUNDS: usize = 4;
    let node = Node::start(&["--no-rate-limits".into()]).await;
    let alice = node.user("alice").await;
    let baseline = settled_rss_kib(&node).await;
    eprintln!("before: RSS {baseline} KiB");
    let (mut connected, mut after_close) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let sockets: Vec<_> = stream::iter(0..SOCKETS)
            .map(|_| node.connect_raw(&alice.token, "crowd", None))
            .buffer_unordered(64)
            .map(|r| r.expect("connect"))
            .collect()
            .await;
        connected.push(settled_rss_kib(&node).await);
        stream::iter(sockets).for_each_concurrent(64, |s| s.close()).await;
        // Until the server has dropped every session and trimmed its heap.
        after_close.push(settled_rss_kib(&node).await);
        eprintln!(
            "round {round}: RSS {} KiB with {SOCKETS} sockets, {} KiB after closing them",
            connected[round], after_close[round]
        );
    }
    // The heap trimmer returns what the closed sockets freed, so RSS after a round is back
    // near where it started (measured on a debug build: +3 to +6 MiB, from +15 to +30 with
    // the sockets open; what stays is the allocator's arenas and caches that warmed up). A
    // leak of the sockets' state would add their whole footprint every round: three rounds
    // after the first may add at most a quarter of one.
    let footprint = connected[0].saturating_sub(baseline);
    let growth = after_close[ROUNDS - 1].saturating_sub(after_close[0]);
    assert!(
        growth <= footprint / 4,
        "RSS kept growing: {baseline} KiB, then {after_close:?} KiB ({connected:?} KiB with the sockets)"
    );
    // And the server still serves.
    let mut socket = node.connect_raw(&alice.token, "crowd", None).await.expect("connect");
    socket.send_ok("still here").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_and_huge_arrays_of_arguments_are_refused_without_harm() {
    let node = Node::start(&["--no-rate-limits".into()]).await;
    let alice = node.user("alice").await;
    let mut watcher =
        node.connect_raw(&node.user("bob").await.token, defaults::ROOM, None).await.expect("watcher");
    for packet in [
        format!(r#"42["chat.message",{}"x"{}]"#, "[".repeat(100_000), "]".repeat(100_000)),
        format!(r#"42["chat.message",{}]"#, vec!["1"; 100_000].join(",")),
        format!(r#"42["chat.message",{{"room":{}"x"{}}}]"#, "{\"a\":".repeat(50_000), "}".repeat(50_000)),
    ] {
        let mut socket = node.connect_raw(&alice.token, defaults::ROOM, None).await.expect("connect");
        socket.send_text(&packet).await;
        // The socket is either answered (refused) or dropped; the server stays up either way.
        let _ = socket.packets_until_closed(QUIET).await;
        watcher.send_ok("the server still answers").await;
    }
    let fresh = node.connect_raw(&alice.token, defaults::ROOM, None).await;
    assert!(fresh.is_ok(), "new clients still welcome");
    let _: Value = watcher.emit_with_ack(events::USER_INFO, &[json!("nobody")]).await;
}
