//! The chat features past the seeds against a real server, on both stores: resuming after the
//! last message seen (handshake and `chat.join`), `chat.gap`, `chat.history` paging (rooms and
//! direct conversations), `chat.search`, `chat.members` and `chat.presence`, `chat.typing`,
//! `chat.direct` and `/me` actions — and that a classic client sees none of it as noise.

use crate::harness;

use harness::{QUIET, SioClient, TestServer, TestUser, WAIT, on_both_stores, unique_name};
use serde_json::{Value, json};
use shared::{
    defaults, errors, events,
    payload::{ChatMessage, Gap, Members, Page, PageAck, Presence, Typing},
};

on_both_stores!(
    a_resume_replays_exactly_what_was_missed_on_connect_and_on_join,
    a_resume_past_the_limit_sends_a_gap_that_history_fills,
    history_pages_back_through_a_room_once_each,
    search_finds_every_word_in_the_room_only,
    members_and_presence_count_people_not_sockets,
    typing_reaches_the_others_throttled_and_is_never_stored,
    direct_messages_reach_both_people_only_and_have_their_own_history,
    actions_are_flagged_and_plain_text_for_classic_clients,
);

/// Chat messages (not notices) on `client` until `n` arrived; panics after [`WAIT`].
async fn messages(client: &mut SioClient, n: usize) -> Vec<ChatMessage> {
    let mut got = Vec::new();
    while got.len() < n {
        let (name, v) = client.next_of(&[events::CHAT_MESSAGE], WAIT).await;
        assert_eq!(name, events::CHAT_MESSAGE);
        if v.get("username").is_some() {
            got.push(serde_json::from_value(v).expect("chat.message"));
        }
    }
    got
}

/// Sends `count` messages `<prefix> <i>` to the handshake room; their ids, in order.
async fn send_many(client: &SioClient, prefix: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        ids.push(client.send(&format!("{prefix} {i}")).await);
    }
    ids
}

fn ids(messages: &[ChatMessage]) -> Vec<String> {
    messages.iter().map(|m| m.id.clone()).collect()
}

async fn page(client: &SioClient, query: Value) -> Page {
    let ack: PageAck = serde_json::from_value(client.emit_with_ack(events::CHAT_HISTORY, query, WAIT).await)
        .expect("chat.history ack");
    ack.into_result().unwrap_or_else(|e| panic!("chat.history refused: {e}")).expect("page")
}

async fn search(client: &SioClient, room: &str, query: &str) -> Result<Vec<String>, String> {
    let ack = client.emit_with_ack(events::CHAT_SEARCH, json!({"room": room, "query": query}), WAIT).await;
    let ack: PageAck = serde_json::from_value(ack).expect("chat.search ack");
    ack.into_result().map(|p| p.expect("page").messages.into_iter().map(|m| m.message).collect())
}

async fn connect_after(server: &TestServer, user: &TestUser, room: &str, after: &str) -> SioClient {
    server
        .connect_with(Some(json!({"token": user.token, "after": after})), &[("room", room)])
        .await
        .unwrap_or_else(|e| panic!("resume refused: {e}"))
}

async fn a_resume_replays_exactly_what_was_missed_on_connect_and_on_join(store: &[&str]) {
    let server = TestServer::start(&[&["--no-rate-limits"], store].concat()).await;
    let (ann, bob) = (server.user("ann").await, server.user("bob").await);
    let (home, other) = (unique_name("home"), unique_name("other"));
    let ann_c = server.connect_user(&ann, Some(&home)).await;
    send_many(&ann_c, "before", 60).await;
    assert_eq!(ann_c.emit_with_ack(events::CHAT_JOIN, json!(other), WAIT).await["success"], json!(true));

    // Bob sees the last 50 and something live, then drops off.
    let mut bob_c = server.connect_user(&bob, Some(&home)).await;
    let replay = messages(&mut bob_c, defaults::HISTORY_LEN).await;
    let last_seen = ann_c.send("last one bob saw").await;
    assert_eq!(messages(&mut bob_c, 1).await[0].id, last_seen);
    bob_c.disconnect().await;

    let missed = send_many(&ann_c, "missed", 7).await;
    // With no resume point nothing changes: the last 50 again.
    let mut fresh = server.connect_user(&bob, Some(&home)).await;
    assert_eq!(messages(&mut fresh, defaults::HISTORY_LEN).await.len(), defaults::HISTORY_LEN);
    fresh.disconnect().await;

    // With one: exactly the missed messages, replayed, then live ones.
    let mut bob_c = connect_after(&server, &bob, &home, &last_seen).await;
    let resumed = messages(&mut bob_c, missed.len()).await;
    assert_eq!(ids(&resumed), missed);
    assert!(resumed.iter().all(|m| m.replayed));
    let live = ann_c.send("live after resume").await;
    let next = messages(&mut bob_c, 1).await;
    assert_eq!((next[0].id.as_str(), next[0].replayed), (live.as_str(), false));
    assert!(replay.iter().all(|m| !missed.contains(&m.id)));

    // The same through chat.join {room, after}, for a room joined later.
    let other_ids: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..3 {
            let ack = ann_c
                .emit_with_ack(events::CHAT_MESSAGE, json!({"room": other, "message": format!("o{i}")}), WAIT)
                .await;
            v.push(ack["id"].as_str().expect("id").to_owned());
        }
        v
    };
    let ack =
        bob_c.emit_with_ack(events::CHAT_JOIN, json!({"room": other, "after": other_ids[0]}), WAIT).await;
    assert_eq!(ack["success"], json!(true), "{ack}");
    assert_eq!(ids(&messages(&mut bob_c, 2).await), other_ids[1..]);
    // Nothing is missed after the newest: nothing is replayed.
    let mut carl_c = connect_after(&server, &server.user("carl").await, &other, &other_ids[2]).await;
    no_chat_message(&mut carl_c).await;
    // A resume point that is no message id is refused on join, ignored on connect.
    let bad = bob_c.emit_with_ack(events::CHAT_JOIN, json!({"room": "x", "after": "nope"}), WAIT).await;
    assert_eq!(bad["error"], json!(errors::INVALID_MESSAGE_ID));
    server.stop().await;
}

/// Panics if a chat message (not a notice) arrives on `client` within [`QUIET`].
async fn no_chat_message(client: &mut SioClient) {
    while let Some(args) = client.try_next_args(events::CHAT_MESSAGE, QUIET).await {
        assert!(args[0].get("username").is_none(), "unexpected message {args:?}");
    }
}

async fn a_resume_past_the_limit_sends_a_gap_that_history_fills(store: &[&str]) {
    let server = TestServer::start(&[&["--no-rate-limits"], store].concat()).await;
    let (ann, bob) = (server.user("ann").await, server.user("bob").await);
    let room = unique_name("busy");
    let ann_c = server.connect_user(&ann, Some(&room)).await;
    let first = ann_c.send("bob saw this").await;
    let missed = send_many(&ann_c, "m", defaults::RESUME_LEN + 20).await;

    let mut bob_c = connect_after(&server, &bob, &room, &first).await;
    let gap: Gap = serde_json::from_value(bob_c.next_event(events::CHAT_GAP, WAIT).await).expect("gap");
    let replayed = messages(&mut bob_c, defaults::HISTORY_LEN).await;
    assert_eq!(ids(&replayed), missed[missed.len() - defaults::HISTORY_LEN..]);
    assert_eq!(
        (gap.room.as_str(), gap.after.as_str(), gap.before.as_str()),
        (room.as_str(), first.as_str(), replayed[0].id.as_str())
    );

    // Paging back from the gap's end reaches its start: every missed message once.
    let mut filled = Vec::new();
    let mut before = gap.before.clone();
    loop {
        let page = page(&bob_c, json!({"room": room, "before": before, "limit": 200})).await;
        let stop = page.messages.iter().position(|m| m.id == gap.after);
        let take = stop.map_or(0, |i| i + 1);
        before = page.messages.first().map(|m| m.id.clone()).unwrap_or_default();
        filled.splice(0..0, page.messages[take..].iter().map(|m| m.id.clone()));
        if stop.is_some() || !page.more {
            break;
        }
    }
    filled.extend(ids(&replayed));
    assert_eq!(filled, missed);
    server.stop().await;
}

async fn history_pages_back_through_a_room_once_each(store: &[&str]) {
    let server = TestServer::start(&[&["--no-rate-limits"], store].concat()).await;
    let ann = server.user("ann").await;
    let room = unique_name("paged");
    let ann_c = server.connect_user(&ann, Some(&room)).await;
    let sent = send_many(&ann_c, "p", 120).await;

    let newest = page(&ann_c, json!({"room": room})).await;
    assert_eq!((ids(&newest.messages), newest.more), (sent[120 - defaults::PAGE_LEN..].to_vec(), true));
    assert!(newest.messages.iter().all(|m| m.replayed && m.room == room));
    let mut got: Vec<String> = Vec::new();
    let mut before: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let mut q = json!({"room": room, "limit": 50});
        if let Some(b) = &before {
            q["before"] = json!(b);
        }
        let p = page(&ann_c, q).await;
        pages.push((p.messages.len(), p.more));
        before = p.messages.first().map(|m| m.id.clone());
        got.splice(0..0, ids(&p.messages));
        if !p.more {
            break;
        }
    }
    assert_eq!(pages, vec![(50, true), (50, true), (20, false)]);
    assert_eq!(got, sent);
    // A cursor that names no stored message stands where its id sorts.
    let unknown = format!("{}0", &sent[60][..23]);
    let around = page(&ann_c, json!({"room": room, "before": unknown, "limit": 1})).await;
    assert!(around.messages[0].id < unknown);

    // Rooms the socket is not in, and bad requests, are refused with the event's ack shape.
    let refused = ann_c.emit_with_ack(events::CHAT_HISTORY, json!({"room": "elsewhere"}), WAIT).await;
    assert_eq!(refused, json!({"success": false, "error": errors::not_in_room("elsewhere")}));
    let bad = ann_c.emit_with_ack(events::CHAT_HISTORY, json!("nope"), WAIT).await;
    assert_eq!(bad["success"], json!(false));
    let bad = ann_c.emit_with_ack(events::CHAT_HISTORY, json!({"room": room, "before": "zz"}), WAIT).await;
    assert_eq!(bad["error"], json!(errors::INVALID_MESSAGE_ID));
    server.stop().await;
}

async fn search_finds_every_word_in_the_room_only(store: &[&str]) {
    let server = TestServer::start(&[&["--no-rate-limits"], store].concat()).await;
    let ann = server.user("ann").await;
    let (room, other) = (unique_name("s"), unique_name("t"));
    let ann_c = server.connect_user(&ann, Some(&room)).await;
    for text in ["hello world", "Hello there, friend", "nothing here", "Grüße aus Köln"] {
        ann_c.send(text).await;
    }
    ann_c.emit_with_ack(events::CHAT_JOIN, json!(other), WAIT).await;
    ann_c
        .emit_with_ack(events::CHAT_MESSAGE, json!({"room": other, "message": "hello elsewhere"}), WAIT)
        .await;

    assert_eq!(
        search(&ann_c, &room, "HELLO").await,
        Ok(vec!["hello world".into(), "Hello there, friend".into()])
    );
    assert_eq!(search(&ann_c, &room, "hello wor").await, Ok(vec!["hello world".into()]));
    assert_eq!(search(&ann_c, &room, "köln").await, Ok(vec!["Grüße aus Köln".into()]));
    assert_eq!(search(&ann_c, &room, "absent").await, Ok(vec![]));
    // Operators are text, never query syntax.
    assert_eq!(search(&ann_c, &room, "\"hello\" OR* (.*").await, Ok(vec![]));
    assert_eq!(search(&ann_c, &room, "  ").await, Err(errors::SEARCH_EMPTY.into()));
    assert_eq!(search(&ann_c, "nowhere", "hello").await, Err(errors::not_in_room("nowhere")));
    server.stop().await;
}

async fn members_of(client: &SioClient, room: &str) -> Vec<String> {
    let ack = client.emit_with_ack(events::CHAT_MEMBERS, json!(room), WAIT).await;
    let members: Members = serde_json::from_value(ack.clone()).unwrap_or_else(|e| panic!("{ack}: {e}"));
    members.members
}

/// The next `chat.presence` on `client`.
pub async fn next_presence(client: &mut SioClient) -> Presence {
    serde_json::from_value(client.next_event(events::CHAT_PRESENCE, WAIT).await).expect("presence")
}

async fn members_and_presence_count_people_not_sockets(store: &[&str]) {
    let server = TestServer::start(&[&["--no-rate-limits"], store].concat()).await;
    let (ann, bob) = (server.user("ann").await, server.user("bob").await);
    let room = unique_name("p");
    let mut ann_c = server.connect_user(&ann, Some(&room)).await;
    assert_eq!(
        next_presence(&mut ann_c).await,
        Presence { room: room.clone(), username: ann.username.clone(), joined: true }
    );
    let bob_1 = server.connect_user(&bob, Some(&room)).await;
    assert_eq!(next_presence(&mut ann_c).await.username, bob.username);
    let bob_2 = server.connect_user(&bob, Some(&room)).await;
    ann_c.expect_no_event(events::CHAT_PRESENCE, QUIET).await;
    let mut expected = vec![ann.username.clone(), bob.username.clone()];
    expected.sort();
    assert_eq!(members_of(&ann_c, &room).await, expected);
    assert_eq!(members_of(&ann_c, "empty-room").await, Vec::<String>::new());

    // One of Bob's sockets going is not Bob going; the last one is.
    bob_1.disconnect().await;
    ann_c.expect_no_event(events::CHAT_PRESENCE, QUIET).await;
    assert_eq!(members_of(&ann_c, &room).await, expected);
    let left = bob_2.emit_with_ack(events::CHAT_LEAVE, json!(room), WAIT).await;
    assert_eq!(left["success"], json!(true));
    assert_eq!(
        next_presence(&mut ann_c).await,
        Presence { room: room.clone(), username: bob.username.clone(), joined: false }
    );
    assert_eq!(members_of(&ann_c, &room).await, vec![ann.username.clone()]);
    let bad = ann_c.emit_with_ack(events::CHAT_MEMBERS, json!(5), WAIT).await;
    assert_eq!(bad["success"], json!(false));
    server.stop().await;
}

/// A client that sends its DISCONNECT packet and closes its websocket at once closes its socket
/// twice (the packet, then the transport): the disconnect handler, which says who left, must
/// still find the socket in its rooms (socketioxide removed it at the second close).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_and_closes_at_once_is_announced_as_gone() {
    let server = TestServer::start(&["--no-rate-limits"]).await;
    let ann = server.user("ann").await;
    let room = unique_name("g");
    let mut ann_c = server.connect_user(&ann, Some(&room)).await;
    next_presence(&mut ann_c).await;
    for round in 0..8 {
        let bob = server.user(&format!("bob{round}")).await;
        let bob_c = server.connect_raw(&bob.token, &room, None).await.expect("connect");
        assert_eq!(
            next_presence(&mut ann_c).await,
            Presence { room: room.clone(), username: bob.username.clone(), joined: true }
        );
        bob_c.disconnect_and_close().await;
        assert_eq!(
            next_presence(&mut ann_c).await,
            Presence { room: room.clone(), username: bob.username.clone(), joined: false },
            "round {round}"
        );
    }
    server.stop().await;
}

async fn typing_reaches_the_others_throttled_and_is_never_stored(store: &[&str]) {
    let server = TestServer::start(&[&["--no-rate-limits"], store].concat()).await;
    let (ann, bob) = (server.user("ann").await, server.user("bob").await);
    let room = unique_name("t");
    let mut ann_c = server.connect_user(&ann, Some(&room)).await;
    let mut bob_c = server.connect_user(&bob, Some(&room)).await;
    // Bob is in the room once his join is announced.
    ann_c.next_event(events::CHAT_PRESENCE, WAIT).await;
    next_presence(&mut ann_c).await;
    let ack = ann_c.emit_with_ack(events::CHAT_TYPING, json!(room), WAIT).await;
    assert_eq!(ack["success"], json!(true));
    let typing: Typing =
        serde_json::from_value(bob_c.next_event(events::CHAT_TYPING, WAIT).await).expect("typing");
    assert_eq!(typing, Typing { room: room.clone(), username: ann.username.clone() });
    ann_c.expect_no_event(events::CHAT_TYPING, QUIET).await;
    // Again at once: acked, not passed on.
    ann_c.emit_with_ack(events::CHAT_TYPING, json!({"room": room}), WAIT).await;
    bob_c.expect_no_event(events::CHAT_TYPING, QUIET).await;
    let refused = ann_c.emit_with_ack(events::CHAT_TYPING, json!("elsewhere"), WAIT).await;
    assert_eq!(refused["error"], json!(errors::not_in_room("elsewhere")));
    let history = page(&ann_c, json!({"room": room})).await;
    assert!(history.messages.is_empty(), "typing was stored: {history:?}");
    server.stop().await;
}

async fn direct_messages_reach_both_people_only_and_have_their_own_history(store: &[&str]) {
    let server = TestServer::start(&[&["--no-rate-limits"], store].concat()).await;
    let (ann, bob, eve) = (server.user("ann").await, server.user("bob").await, server.user("eve").await);
    let room = unique_name("d");
    let mut ann_c = server.connect_user(&ann, Some(&room)).await;
    let mut bob_1 = server.connect_user(&bob, Some(&room)).await;
    let mut bob_2 = server.connect_user(&bob, None).await;
    let mut eve_c = server.connect_user(&eve, Some(&room)).await;

    let ack = ann_c
        .emit_with_ack(
            events::CHAT_DIRECT,
            json!({"to": bob.username.to_uppercase(), "message": "psst"}),
            WAIT,
        )
        .await;
    assert_eq!(ack["success"], json!(true), "{ack}");
    let id = ack["id"].as_str().expect("id").to_owned();
    for client in [&mut ann_c, &mut bob_1, &mut bob_2] {
        let got: ChatMessage =
            serde_json::from_value(client.next_event(events::CHAT_DIRECT, WAIT).await).unwrap();
        assert_eq!(
            (
                got.id.as_str(),
                got.username.as_str(),
                got.to.as_deref(),
                got.message.as_str(),
                got.room.as_str()
            ),
            (id.as_str(), ann.username.as_str(), Some(bob.username.as_str()), "psst", "")
        );
    }
    let reply = bob_1
        .emit_with_ack(
            events::CHAT_DIRECT,
            json!({"to": ann.username, "message": "waves", "action": true}),
            WAIT,
        )
        .await;
    let reply_id = reply["id"].as_str().expect("id").to_owned();
    eve_c.expect_no_event(events::CHAT_DIRECT, QUIET).await;
    no_chat_message(&mut eve_c).await;

    let bob_view = page(&bob_2, json!({"with": ann.username})).await;
    assert_eq!(ids(&bob_view.messages), vec![id.clone(), reply_id.clone()]);
    assert_eq!(bob_view.messages[0].to.as_deref(), Some(bob.username.as_str()));
    assert_eq!(bob_view.messages[1].to.as_deref(), Some(ann.username.as_str()));
    assert!(bob_view.messages[1].action);
    let ann_view = page(&ann_c, json!({"with": bob.username})).await;
    assert_eq!(ids(&ann_view.messages), ids(&bob_view.messages));
    let eve_view = page(&eve_c, json!({"with": ann.username})).await;
    assert!(eve_view.messages.is_empty());
    // Never in a room's history or search.
    assert!(page(&eve_c, json!({"room": room})).await.messages.is_empty());

    let unknown =
        ann_c.emit_with_ack(events::CHAT_DIRECT, json!({"to": "nobody-at-all", "message": "hi"}), WAIT).await;
    assert_eq!(unknown, json!({"success": false, "error": errors::NO_SUCH_USER}));
    assert_eq!(ann_c.next_error().await, errors::NO_SUCH_USER);
    let empty =
        ann_c.emit_with_ack(events::CHAT_DIRECT, json!({"to": bob.username, "message": " "}), WAIT).await;
    assert_eq!(empty["error"], json!(errors::MESSAGE_EMPTY));
    server.stop().await;
}

async fn actions_are_flagged_and_plain_text_for_classic_clients(store: &[&str]) {
    let server = TestServer::start(&[&["--no-rate-limits"], store].concat()).await;
    let (ann, bob) = (server.user("ann").await, server.user("bob").await);
    let room = unique_name("a");
    let ann_c = server.connect_user(&ann, Some(&room)).await;
    let mut bob_c = server.connect_user(&bob, Some(&room)).await;
    let ack = ann_c
        .emit_with_ack(events::CHAT_MESSAGE, json!({"room": room, "message": "waves", "action": true}), WAIT)
        .await;
    assert_eq!(ack["success"], json!(true));
    let got = messages(&mut bob_c, 1).await.remove(0);
    assert_eq!(
        (got.username.as_str(), got.message.as_str(), got.action),
        (ann.username.as_str(), "waves", true)
    );
    // Replayed with the flag too.
    let mut later = server.connect_user(&bob, Some(&room)).await;
    assert!(messages(&mut later, 1).await[0].action);
    let plain = ann_c.send("plain").await;
    let got = messages(&mut bob_c, 1).await.remove(0);
    assert_eq!((got.id, got.action), (plain, false));
    server.stop().await;
}
