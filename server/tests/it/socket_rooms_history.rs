//! Rooms and history against a real server: `chat.join` / `chat.leave`, `{room, message}`,
//! the per-socket room limit, and history replayed on connect and on join, with no gap and no
//! duplicate between replayed and live messages while the room is busy.
//!
//! Every test runs on both stores: `sqlite::<test>` on the default one and `mongo::<test>` on a
//! fresh MongoDB database (see [`harness::mongo`] for when those skip).

use crate::harness;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use harness::{NOTICE, QUIET, SioClient, TestServer, WAIT, assert_seamless, eventually, on_both_stores};
use serde_json::{Value, json};
use shared::{
    defaults, errors, events,
    payload::{ChatMessage, MessageAck, RoomAck, SystemMessage},
    validate,
};

fn room_done(room: &str) -> Value {
    serde_json::to_value(RoomAck::room(room)).unwrap()
}

fn room_failed(error: &str) -> Value {
    serde_json::to_value(RoomAck::failed(error)).unwrap()
}

/// Sends `message` to `room` with `{room, message}` and returns the ack.
async fn send_to(client: &SioClient, room: &str, message: &str) -> Value {
    client.emit_with_ack(events::CHAT_MESSAGE, json!({"room": room, "message": message}), WAIT).await
}

async fn join(client: &SioClient, room: &str) -> Value {
    client.emit_with_ack(events::CHAT_JOIN, json!(room), WAIT).await
}

async fn leave(client: &SioClient, room: &str) -> Value {
    client.emit_with_ack(events::CHAT_LEAVE, json!(room), WAIT).await
}

on_both_stores!(
    join_and_leave_answer_with_acks_and_route_room_messages,
    the_room_limit_per_socket_includes_the_handshake_room,
    history_is_replayed_on_connect_oldest_first_then_live,
    history_is_replayed_on_join_with_the_default_length,
    replay_and_live_have_no_gap_and_no_duplicate_while_the_room_is_busy,
    join_notices_follow_the_replay_reach_the_whole_room_and_are_never_stored,
    without_join_notices_a_join_reaches_the_room_as_presence_alone,
);

/// A server on the store chosen by `store` with the test's own `flags`.
async fn start(store: &[&str], flags: &[&str]) -> TestServer {
    TestServer::start(&[store, flags].concat()).await
}

async fn join_and_leave_answer_with_acks_and_route_room_messages(store: &[&str]) {
    let s = start(store, &["--no-rate-limits"]).await;
    let (alice, bob, carol) = (s.user("alice").await, s.user("bob").await, s.user("carol").await);
    let mut a = s.connect_user(&alice, None).await;
    let mut b = s.connect_user(&bob, None).await;
    let mut c = s.connect_user(&carol, None).await;

    assert_eq!(join(&b, "side").await, room_done("side"));
    assert_eq!(join(&a, "side").await, room_done("side"));
    let ack = send_to(&a, "side", "in side").await;
    assert_eq!(ack["success"], json!(true), "{ack}");
    for client in [&mut a, &mut b] {
        let m = client.next_message().await;
        assert_eq!(
            (m.room.as_str(), m.message.as_str(), m.id.as_str()),
            ("side", "in side", ack["id"].as_str().unwrap())
        );
        assert_eq!(m.username, alice.username);
    }
    // The handshake room still works for a socket in two rooms.
    let public_id = a.send("in public").await;
    for client in [&mut a, &mut b, &mut c] {
        let m = client.next_message().await;
        assert_eq!(
            (m.room.as_str(), m.id.as_str()),
            (defaults::ROOM, public_id.as_str()),
            "carol never saw `in side`"
        );
    }

    assert_eq!(leave(&b, "side").await, room_done("side"));
    let left_ack = send_to(&a, "side", "bob has left").await;
    assert_eq!(a.next_message().await.id, left_ack["id"].as_str().unwrap());
    let after = a.send("public after leaving").await;
    assert_eq!(b.next_message().await.id, after, "bob got nothing from `side` after leaving it");
    assert_eq!(a.next_message().await.id, after);
    assert_eq!(c.next_message().await.id, after);

    // Leaving or writing to a room one is not in.
    assert_eq!(leave(&b, "side").await, room_failed(&errors::not_in_room("side")));
    for (room, client) in [("side", &mut b), ("ghost", &mut c)] {
        let ack = send_to(client, room, "let me in").await;
        assert_eq!(ack, serde_json::to_value(MessageAck::failed(errors::not_in_room(room))).unwrap());
        assert_eq!(client.next_error().await, errors::not_in_room(room));
    }

    // Invalid names and payloads.
    for bad in ["bad room", "", "sid:x", "a/b"] {
        assert_eq!(join(&c, bad).await, room_failed(&validate::room(bad).unwrap_err()), "join {bad:?}");
    }
    for bad in [json!(5), json!(null), json!(["side"])] {
        let ack = c.emit_with_ack(events::CHAT_JOIN, bad.clone(), WAIT).await;
        assert_eq!(ack, room_failed(errors::ROOM_INVALID_PAYLOAD), "join {bad}");
    }
    a.expect_no_event(events::CHAT_MESSAGE, QUIET).await;
    c.expect_no_event(events::CHAT_MESSAGE, QUIET).await;
    s.stop().await;
}

async fn the_room_limit_per_socket_includes_the_handshake_room(store: &[&str]) {
    let s = start(store, &["--no-rate-limits", "--max-rooms-per-socket", "3"]).await;
    let alice = s.user("alice").await;
    let a = s.connect_user(&alice, None).await;
    assert_eq!(join(&a, "r1").await, room_done("r1"));
    assert_eq!(join(&a, "r2").await, room_done("r2"));
    assert_eq!(join(&a, "r3").await, room_failed(errors::TOO_MANY_ROOMS), "public + r1 + r2 is the limit");
    assert_eq!(leave(&a, "r1").await, room_done("r1"));
    assert_eq!(join(&a, "r3").await, room_done("r3"), "leaving frees a place");
    let ack = send_to(&a, "r3", "in r3").await;
    assert_eq!(ack["success"], json!(true));
    s.stop().await;
}

async fn history_is_replayed_on_connect_oldest_first_then_live(store: &[&str]) {
    let s = start(store, &["--no-rate-limits", "--history", "5"]).await;
    let (alice, bob, carol) = (s.user("alice").await, s.user("bob").await, s.user("carol").await);
    let mut a = s.connect_user(&alice, Some("hist")).await;
    let mut live_copies = Vec::new();
    for i in 0..8 {
        let id = a.send(&format!("h{i}")).await;
        let m = a.next_message().await;
        assert_eq!(m.id, id);
        live_copies.push(m);
    }
    let noise = s.connect_user(&carol, Some("noise")).await;
    noise.send("not for hist").await;

    let mut b = s.connect_user(&bob, Some("hist")).await;
    for live in &live_copies[3..] {
        let replayed = b.next_message().await;
        assert_eq!(replayed, ChatMessage { replayed: true, ..live.clone() }, "the last 5, oldest first");
    }
    b.expect_no_event(events::CHAT_MESSAGE, QUIET).await;
    let id = a.send("live").await;
    let m = b.next_message().await;
    assert_eq!((m.id.as_str(), m.replayed), (id.as_str(), false));

    let mut empty = s.connect_user(&carol, Some("empty")).await;
    empty.expect_no_event(events::CHAT_MESSAGE, QUIET).await;
    s.stop().await;
}

async fn history_is_replayed_on_join_with_the_default_length(store: &[&str]) {
    let s = start(store, &["--no-rate-limits"]).await;
    let (alice, bob, carol) = (s.user("alice").await, s.user("bob").await, s.user("carol").await);
    let mut a = s.connect_user(&alice, Some("lobby")).await;
    let mut live_copies = Vec::new();
    for i in 0..defaults::HISTORY_LEN + 5 {
        let id = a.send(&format!("l{i}")).await;
        let m = a.next_message().await;
        assert_eq!(m.id, id);
        live_copies.push(m);
    }

    let mut b = s.connect_user(&bob, None).await;
    assert_eq!(join(&b, "lobby").await, room_done("lobby"));
    for live in &live_copies[5..] {
        assert_eq!(b.next_message().await, ChatMessage { replayed: true, ..live.clone() });
    }
    b.expect_no_event(events::CHAT_MESSAGE, QUIET).await;

    // A message sent with {room, message} is live for members and history for later joiners.
    let ack = send_to(&b, "lobby", "bob was here").await;
    let bob_msg = b.next_message().await;
    assert_eq!(
        (bob_msg.id.as_str(), bob_msg.replayed, bob_msg.room.as_str()),
        (ack["id"].as_str().unwrap(), false, "lobby")
    );
    assert_eq!(a.next_message().await, bob_msg);

    let mut c = s.connect_user(&carol, None).await;
    assert_eq!(join(&c, "lobby").await, room_done("lobby"));
    let expected = live_copies[6..].iter().chain([&bob_msg]);
    for live in expected {
        assert_eq!(c.next_message().await, ChatMessage { replayed: true, ..live.clone() });
    }
    c.expect_no_event(events::CHAT_MESSAGE, QUIET).await;
    s.stop().await;
}

async fn replay_and_live_have_no_gap_and_no_duplicate_while_the_room_is_busy(store: &[&str]) {
    const HISTORY: usize = 20;
    const ROOM: &str = "busy";
    let s = start(store, &["--no-rate-limits", "--history", &HISTORY.to_string()]).await;
    let sender_user = s.user("hammer").await;
    let mut watchers = Vec::new();
    for i in 0..6 {
        watchers.push(s.user(&format!("watcher{i}")).await);
    }

    let sender = s.connect_user(&sender_user, Some(ROOM)).await;
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let hammer = {
        let (acked, stop) = (acked.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = sender.send(&format!("m{i}")).await;
                acked.lock().unwrap().push(id);
                i += 1;
            }
            sender
        })
    };
    let acked_ref = &*acked;
    let wait_for_acks = |n: usize| {
        eventually("the sender keeps getting acks", Duration::from_secs(20), move || async move {
            (acked_ref.lock().unwrap().len() >= n).then_some(())
        })
    };
    wait_for_acks(HISTORY + 10).await;

    // Alternate connecting to the busy room and joining it from another room.
    let mut observers = Vec::new();
    for (i, user) in watchers.iter().enumerate() {
        let observer = if i % 2 == 0 {
            s.connect_user(user, Some(ROOM)).await
        } else {
            let c = s.connect_user(user, None).await;
            assert_eq!(join(&c, ROOM).await, room_done(ROOM));
            c
        };
        observers.push(observer);
        let so_far = acked_ref.lock().unwrap().len();
        wait_for_acks(so_far + 15).await;
    }
    stop.store(true, Ordering::Relaxed);
    let sender = hammer.await.expect("sender task");
    let acked = acked.lock().unwrap().clone();
    let last = acked.last().unwrap().clone();

    for (i, mut observer) in observers.into_iter().enumerate() {
        let mut got = Vec::new();
        loop {
            let m = observer.next_message().await;
            assert_eq!(m.room, ROOM);
            let done = m.id == last;
            got.push(m);
            if done {
                break;
            }
        }
        let how = if i % 2 == 0 { "connected" } else { "joined" };
        assert_seamless(&format!("observer {i} ({how})"), &got, &acked, HISTORY);
        observer.expect_no_event(events::CHAT_MESSAGE, QUIET).await;
        observer.disconnect().await;
    }
    sender.disconnect().await;
    s.stop().await;
}

/// The next chat message or notice of `client`, in arrival order: `Ok` a message, `Err` a notice.
async fn next_line(client: &mut SioClient) -> Result<ChatMessage, SystemMessage> {
    let (name, v) = client.next_of(&[events::CHAT_MESSAGE, NOTICE], WAIT).await;
    if name == NOTICE {
        Err(serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("bad notice {v}: {e}")))
    } else {
        Ok(serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("bad chat.message {v}: {e}")))
    }
}

/// Asserts that `line` is the notice of `user` joining `room` (chapter 15's system message).
fn assert_joined(line: Result<ChatMessage, SystemMessage>, user: &str, room: &str) {
    let notice = line.expect_err("a join notice, not a chat message");
    assert_eq!(
        (notice.message.as_str(), notice.room.as_str()),
        (shared::notices::user_joined(user, room).as_str(), room)
    );
    assert!(chrono::DateTime::parse_from_rfc3339(&notice.sent).is_ok(), "dated: {notice:?}");
}

async fn join_notices_follow_the_replay_reach_the_whole_room_and_are_never_stored(store: &[&str]) {
    let s = start(store, &["--no-rate-limits"]).await;
    let (alice, bob, carol) = (s.user("alice").await, s.user("bob").await, s.user("carol").await);
    let mut a = s.connect_user(&alice, Some("hall")).await;
    assert_joined(next_line(&mut a).await, &alice.username, "hall");
    let id = a.send("before bob").await;
    assert_eq!(next_line(&mut a).await.expect("live message").id, id);

    // The joiner gets the history first, then its own notice; the room gets the notice too.
    let mut b = s.connect_user(&bob, Some("hall")).await;
    let replayed = next_line(&mut b).await.expect("history first");
    assert_eq!((replayed.id.as_str(), replayed.replayed), (id.as_str(), true));
    assert_joined(next_line(&mut b).await, &bob.username, "hall");
    assert_joined(next_line(&mut a).await, &bob.username, "hall");

    // chat.join without an ack (chapter 15) joins and announces just the same.
    b.emit(events::CHAT_JOIN, json!("side")).await;
    assert_joined(next_line(&mut b).await, &bob.username, "side");
    assert_eq!(join(&a, "side").await, room_done("side"));
    assert_joined(next_line(&mut b).await, &alice.username, "side");
    assert_joined(next_line(&mut a).await, &alice.username, "side");
    // Joining a room again changes nothing and announces nothing.
    assert_eq!(join(&a, "side").await, room_done("side"));
    b.expect_no_event(NOTICE, QUIET).await;

    // Notices are not history: a later joiner gets the one stored message, then its notice.
    let mut c = s.connect_user(&carol, Some("hall")).await;
    assert_eq!(next_line(&mut c).await.expect("the stored message").id, id);
    assert_joined(next_line(&mut c).await, &carol.username, "hall");
    c.expect_no_event(events::CHAT_MESSAGE, QUIET).await;
    s.stop().await;
}

/// Who a join notice says joined, checking its wording: chapter 15's line for one user, ours
/// for several (`socket::notices`).
fn joiners(notice: &SystemMessage, room: &str) -> Vec<String> {
    assert_eq!(notice.room, room, "{notice:?}");
    assert!(chrono::DateTime::parse_from_rfc3339(&notice.sent).is_ok(), "dated: {notice:?}");
    match (&notice.joined, notice.joined_many.as_slice()) {
        (Some(one), []) => {
            assert_eq!(notice.message, shared::notices::user_joined(one, room));
            vec![one.clone()]
        }
        (None, many) if many.len() > 1 => {
            assert_eq!(notice.message, shared::notices::users_joined(many, room));
            let distinct: std::collections::HashSet<_> = many.iter().collect();
            assert_eq!(distinct.len(), many.len(), "each joiner once: {notice:?}");
            many.to_vec()
        }
        _ => panic!("not a join notice: {notice:?}"),
    }
}

/// The join notices `client` gets until its next chat message, which is returned with the
/// joiners they name, in order.
async fn joiners_until_message(client: &mut SioClient, room: &str) -> (Vec<String>, ChatMessage) {
    let mut names = Vec::new();
    loop {
        match next_line(client).await {
            Err(notice) => names.extend(joiners(&notice, room)),
            Ok(message) => return (names, message),
        }
    }
}

/// Joins right behind one another are gathered into one line at the end of the room's window
/// (`socket::notices`), every joiner named once and in order, and a joiner who speaks at once
/// has the line naming them go out before their message, to everyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_notices_in_a_storm_are_gathered_in_order_and_come_before_the_joiners_messages() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let mut users = Vec::new();
    for name in ["alice", "bob", "carol", "dave", "erin", "finn", "gus", "hal"] {
        users.push(s.user(name).await);
    }
    let names: Vec<String> = users.iter().map(|u| u.username.clone()).collect();
    let mut a = s.connect_user(&users[0], Some("storm")).await;
    assert_joined(next_line(&mut a).await, &users[0].username, "storm");
    // Six people come at once, one of them twice: one window's line names each once.
    let mut others = Vec::new();
    for user in [&users[1], &users[2], &users[3], &users[4], &users[5], &users[1]] {
        others.push(s.connect_user(user, Some("storm")).await);
    }
    let mut g = s.connect_user(&users[6], Some("storm")).await;
    let id = g.send("first words").await;
    let (mut seen, message) = joiners_until_message(&mut a, "storm").await;
    // (Bob's second socket is named again only if a window ended between his two joins.)
    let mut once = std::collections::HashSet::new();
    seen.retain(|name| once.insert(name.clone()));
    assert_eq!(seen, names[1..7], "each joiner, in order, before the message");
    assert_eq!(message.id, id);
    // A notice goes to the room as it is when it goes out: Gus, who joined in the same
    // window, may see some of the others come in too, then himself, then his message.
    let (seen, message) = joiners_until_message(&mut g, "storm").await;
    assert_eq!(seen.last(), Some(&names[6]), "{seen:?}");
    assert!(names[1..7].ends_with(&seen), "{seen:?}");
    assert_eq!(message.id, id);

    // A join right after those, with no message to send it along: at the window's end, as
    // chapter 15's own line.
    let _h = s.connect_user(&users[7], Some("storm")).await;
    assert_joined(next_line(&mut a).await, &users[7].username, "storm");
    s.stop().await;
}

/// `--no-join-notices`: no system line on any join, while the joiner still gets its replay and
/// the room still gets `chat.presence`.
async fn without_join_notices_a_join_reaches_the_room_as_presence_alone(store: &[&str]) {
    let s = start(store, &["--no-rate-limits", "--no-join-notices"]).await;
    let (alice, bob) = (s.user("alice").await, s.user("bob").await);
    let mut a = s.connect_user(&alice, Some("hall")).await;
    let id = a.send("before bob").await;
    // The first line Alice gets is her own message: no notice of her own join came before it.
    assert_eq!(next_line(&mut a).await.expect("the live message, no notice").id, id);

    let mut b = s.connect_user(&bob, Some("hall")).await;
    assert_eq!(next_line(&mut b).await.expect("the replay").id, id);
    // Alice's own arrival, then Bob's.
    for user in [&alice, &bob] {
        let came = a.next_event(events::CHAT_PRESENCE, WAIT).await;
        assert_eq!(
            (came["username"].as_str(), came["joined"].as_bool()),
            (Some(user.username.as_str()), Some(true))
        );
    }
    b.emit(events::CHAT_JOIN, json!("side")).await;
    assert_eq!(join(&a, "side").await, room_done("side"));
    a.expect_no_event(NOTICE, QUIET).await;
    b.expect_no_event(NOTICE, QUIET).await;
    s.stop().await;
}
