//! Socket.IO against a real server: handshake auth, `chat.message`, its validation and rate
//! limit, the per-address connection cap, `user.info`, malformed packets and packet size caps
//! on both transports.

use crate::harness;

use harness::{NOTICE, QUIET, TestServer, WAIT, eventually, loopback, random_object_id};
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use shared::{
    defaults, errors, events,
    payload::{ChatMessage, MessageAck, RoomAck, UserInfo, UserSummary},
    validate,
};
use tokio::time::{Instant, sleep, timeout};

const SECRET: &str = "a test secret of more than thirty-two bytes";

fn mint(secret: &str, alg: Algorithm, sub: &str, expires_in: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    sign(secret, alg, &json!({"sub": sub, "iat": now, "exp": now + expires_in}))
}

fn sign(secret: &str, alg: Algorithm, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

fn failed(error: &str) -> Value {
    serde_json::to_value(MessageAck::failed(error)).unwrap()
}

fn is_object_id(id: &str) -> bool {
    id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_without_a_token_is_refused_with_no_token() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let user = s.user("notoken").await;
    let token_query = [("token", user.token.as_str())];
    let cases = [
        (None, &[][..]),
        (Some(json!({})), &[]),
        (Some(json!({"token": ""})), &[]),
        // The token is read from the handshake auth only, never from the query.
        (None, &token_query[..]),
    ];
    for (auth, query) in cases {
        let r = s.connect_with(auth.clone(), query).await;
        assert_eq!(r.err().as_deref(), Some(errors::AUTH_NO_TOKEN), "auth {auth:?} query {query:?}");
    }
    // The same user with the token in auth gets in.
    s.connect_user(&user, None).await.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused_as_invalid() {
    let s = TestServer::launch(tempfile::tempdir().unwrap(), Some(SECRET), &["--no-rate-limits"]).await;
    let user = s.user("tokens").await;
    // Positive controls: the login token and one we mint with the server's secret.
    s.connect_user(&user, None).await.disconnect().await;
    let minted = mint(SECRET, Algorithm::HS256, &user.id, 3600);
    s.connect(&minted, None).await.expect("a token minted with the server's secret").disconnect().await;

    let payload = minted.split('.').nth(1).unwrap();
    let (now, hour) = (chrono::Utc::now().timestamp(), 3600);
    let timed = |claims: Value| sign(SECRET, Algorithm::HS256, &claims);
    let bad = [
        (
            "nbf an hour ahead",
            timed(json!({"sub": user.id, "iat": now, "exp": now + hour, "nbf": now + hour})),
        ),
        ("iat an hour ahead", timed(json!({"sub": user.id, "iat": now + hour, "exp": now + 2 * hour}))),
        ("no exp", timed(json!({"sub": user.id, "iat": now}))),
        ("garbage", "not.a.jwt".to_owned()),
        ("forged signature", mint("some other secret of enough length!!", Algorithm::HS256, &user.id, 3600)),
        ("expired", mint(SECRET, Algorithm::HS256, &user.id, -3600)),
        ("HS384", mint(SECRET, Algorithm::HS384, &user.id, 3600)),
        ("alg none", format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")),
        ("user does not exist", mint(SECRET, Algorithm::HS256, &random_object_id(), 3600)),
        ("sub is not an id", mint(SECRET, Algorithm::HS256, "admin", 3600)),
    ];
    for (what, token) in bad {
        let r = s.connect(&token, None).await;
        assert_eq!(r.err().as_deref(), Some(errors::AUTH_INVALID_TOKEN), "{what}");
    }
    let r = s.connect_with(Some(json!({"token": 12345})), &[]).await;
    assert!(r.is_err(), "a non-string token is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_room_in_the_handshake_is_refused_with_the_rule() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let user = s.user("rooms").await;
    let long = "x".repeat(validate::MAX_ROOM_CHARS + 1);
    for room in ["bad room", "sid:abc", "a/b", long.as_str()] {
        let r = s.connect(&user.token, Some(room)).await;
        assert_eq!(r.err(), Some(validate::room(room).unwrap_err()), "{room:?}");
    }
    let edge = "x".repeat(validate::MAX_ROOM_CHARS);
    for room in ["聊天室", "dev-ops_2.0", edge.as_str(), "हिन्दी", "नमस्ते", "தமிழ்", "ห้อง"]
    {
        s.connect_user(&user, Some(room)).await.disconnect().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_typed_in_either_normal_form_is_one_room() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let (alice, bob) = (s.user("alice").await, s.user("bob").await);
    let mut composed = s.connect_user(&alice, Some("café")).await;
    let mut decomposed = s.connect_user(&bob, Some("cafe\u{301}")).await;
    let id = decomposed.send("bonjour").await;
    let got = composed.next_message().await;
    assert_eq!((got.id.as_str(), got.room.as_str()), (id.as_str(), "café"));
    assert_eq!(decomposed.next_message().await.room, "café", "the sender's echo names the NFC room");
    // Joining and addressing by the other form reach the same room.
    let ack = composed.emit_with_ack(events::CHAT_JOIN, json!("ห\u{e49}อง"), WAIT).await;
    assert_eq!(ack["room"], json!("ห้อง"));
    let ack = composed
        .emit_with_ack(events::CHAT_MESSAGE, json!({"room": "cafe\u{301}", "message": "oui"}), WAIT)
        .await;
    assert_eq!(ack["success"], json!(true), "{ack}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_reaches_its_whole_room_sender_included_and_no_other() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let (alice, bob, carol) = (s.user("alice").await, s.user("bob").await, s.user("carol").await);
    let mut a = s.connect_user(&alice, None).await;
    let mut b = s.connect_user(&bob, Some(defaults::ROOM)).await;
    let mut c = s.connect_user(&carol, Some("elsewhere")).await;

    let text = "héllo 👋 \"quoted\" <b>";
    let before = chrono::Utc::now();
    let id = a.send(text).await;
    let after = chrono::Utc::now();
    assert!(is_object_id(&id), "{id}");
    for client in [&mut a, &mut b] {
        let raw = client.next_event(events::CHAT_MESSAGE, WAIT).await;
        assert!(raw.get("replayed").is_none_or(|r| r == false), "live message marked replayed: {raw}");
        let m: ChatMessage = serde_json::from_value(raw).unwrap();
        let expected = ChatMessage {
            username: alice.username.clone(),
            message: text.into(),
            room: defaults::ROOM.into(),
            sent: m.sent.clone(),
            id: id.clone(),
            replayed: false,
            ..Default::default()
        };
        assert_eq!(m, expected);
        assert!(m.sent.len() == 24 && m.sent.ends_with('Z'), "sent {} is not RFC 3339 UTC with ms", m.sent);
        let sent = chrono::DateTime::parse_from_rfc3339(&m.sent).unwrap();
        let slack = chrono::Duration::seconds(1);
        assert!(
            before - slack <= sent && sent <= after + slack,
            "sent {sent} not between {before} and {after}"
        );
    }
    c.expect_no_event(events::CHAT_MESSAGE, QUIET).await;

    // Without an ack the message is broadcast all the same.
    b.emit(events::CHAT_MESSAGE, json!("no ack needed")).await;
    let m = a.next_message().await;
    assert_eq!((m.username.as_str(), m.message.as_str()), (bob.username.as_str(), "no ack needed"));
    assert!(is_object_id(&m.id));
    assert_eq!(b.next_message().await, m, "the sender gets the same message");
    c.expect_no_event(events::CHAT_MESSAGE, QUIET).await;
}

/// With a write delay, a burst reaches everyone whole and in order, and a lone message still
/// goes out (the delay only lets more packets join a write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_write_delay_bursts_arrive_whole_and_in_order() {
    let s = TestServer::start(&["--no-rate-limits", "--write-delay-ms", "20"]).await;
    let (alice, bob) = (s.user("alice").await, s.user("bob").await);
    let (mut a, mut b) = (s.connect_user(&alice, None).await, s.connect_user(&bob, None).await);
    let texts: Vec<String> = (0..50).map(|i| format!("burst {i}")).collect();
    for text in &texts {
        a.emit(events::CHAT_MESSAGE, json!(text)).await;
    }
    let lone = b.send("alone").await;
    for client in [&mut a, &mut b] {
        let mut got = Vec::new();
        while got.len() < texts.len() + 1 {
            got.push(client.next_message().await);
        }
        let burst: Vec<&str> =
            got.iter().filter(|m| m.username == alice.username).map(|m| m.message.as_str()).collect();
        assert_eq!(burst, texts, "the burst, whole and in order");
        assert!(got.iter().any(|m| m.id == lone), "the lone message");
    }
}

/// The write delay holds back only a write that closely follows another: a message after a
/// quiet spell goes out at once, the next one right behind it waits out the rest of the delay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_delay_holds_back_only_a_write_right_behind_another() {
    let delay = Duration::from_millis(1000);
    let s = TestServer::start(&["--no-rate-limits", "--write-delay-ms", "1000"]).await;
    let (alice, bob) = (s.user("alice").await, s.user("bob").await);
    let mut b = s.connect_user(&bob, None).await;
    let a = s.connect_user(&alice, None).await;
    // Bob's last write (alice's join notice, which can wait for the room's notice window) is
    // more than a delay behind.
    let alice_joined = shared::notices::user_joined(&alice.username, defaults::ROOM);
    while b.next_event(NOTICE, WAIT).await["message"] != alice_joined.as_str() {}
    sleep(delay + Duration::from_millis(200)).await;

    let asked = Instant::now();
    a.emit(events::CHAT_MESSAGE, json!("after a quiet spell")).await;
    assert_eq!(b.next_message().await.message, "after a quiet spell");
    let first = Instant::now();
    assert!(first - asked < delay / 2, "a quiet socket's write waited {:?}", first - asked);

    a.emit(events::CHAT_MESSAGE, json!("right behind")).await;
    assert_eq!(b.next_message().await.message, "right behind");
    // Seen from the client, less what one hop can take off the measured gap.
    assert!(first.elapsed() > delay * 2 / 3, "the next write came {:?} after", first.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_sent_right_after_the_connect_answer_is_handled() {
    // socket.io-client flushes what was emitted while connecting as soon as CONNECT arrives.
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let (alice, bob) = (s.user("alice").await, s.user("bob").await);
    let mut watcher = s.connect_user(&bob, None).await;
    for i in 0..20 {
        let mut raw = s.connect_raw(&alice.token, defaults::ROOM, None).await.expect("raw connect");
        let id = raw.send_ok(&format!("first words {i}")).await;
        assert_eq!(watcher.next_message().await.id, id);
        raw.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_messages_get_an_error_event_and_a_failing_ack_and_the_socket_stays() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let (alice, bob) = (s.user("alice").await, s.user("bob").await);
    let mut a = s.connect_user(&alice, None).await;
    let mut b = s.connect_user(&bob, None).await;
    let too_long = errors::message_too_long(defaults::MAX_MESSAGE_BYTES);
    // 2049 two-byte characters: 4098 bytes although fewer than 4096 characters.
    let long_text = "é".repeat(defaults::MAX_MESSAGE_BYTES / 2 + 1);
    let cases: Vec<(Value, &str)> = vec![
        (json!(""), errors::MESSAGE_EMPTY),
        (json!("  \t\n "), errors::MESSAGE_EMPTY),
        (json!({"room": defaults::ROOM, "message": "   "}), errors::MESSAGE_EMPTY),
        (json!(long_text), &too_long),
        (json!({"room": defaults::ROOM, "message": long_text}), &too_long),
        (json!(42), errors::MESSAGE_INVALID),
        (json!(true), errors::MESSAGE_INVALID),
        (Value::Null, errors::MESSAGE_INVALID),
        (json!(["hi"]), errors::MESSAGE_INVALID),
        (json!({"text": "hi"}), errors::MESSAGE_INVALID),
        (json!({"message": "hi"}), errors::MESSAGE_INVALID),
        (json!({"room": defaults::ROOM}), errors::MESSAGE_INVALID),
        (json!({"room": 5, "message": "hi"}), errors::MESSAGE_INVALID),
        (json!({"room": defaults::ROOM, "message": 5}), errors::MESSAGE_INVALID),
    ];
    for (payload, expected) in &cases {
        let ack = a.emit_with_ack(events::CHAT_MESSAGE, payload.clone(), WAIT).await;
        assert_eq!(ack, failed(expected), "ack for {payload}");
        assert_eq!(a.next_error().await, *expected, "error event for {payload} with ack");
        a.emit(events::CHAT_MESSAGE, payload.clone()).await;
        assert_eq!(a.next_error().await, *expected, "error event for {payload} without ack");
    }
    // Exactly the limit is fine, and the socket still works after all of the above.
    let edge = "é".repeat(defaults::MAX_MESSAGE_BYTES / 2);
    let edge_id = a.send(&edge).await;
    let last_id = a.send("still here").await;
    // Nothing invalid was broadcast: bob's first two messages are the valid ones.
    assert_eq!(b.next_message().await.id, edge_id);
    assert_eq!(b.next_message().await.id, last_id);
    a.expect_no_event(events::ERROR, QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_size_limit_counts_bytes_and_is_configurable() {
    let s = TestServer::start(&["--no-rate-limits", "--max-message-bytes", "8"]).await;
    let alice = s.user("alice").await;
    let mut a = s.connect_user(&alice, None).await;
    for fits in ["12345678", "éééé"] {
        a.send(fits).await;
    }
    for too_big in ["123456789", "ééééé"] {
        let ack = a.emit_with_ack(events::CHAT_MESSAGE, json!(too_big), WAIT).await;
        assert_eq!(ack, failed(&errors::message_too_long(8)), "{too_big}");
        assert_eq!(a.next_error().await, errors::message_too_long(8));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_rate_limit_is_per_socket_answers_rate_limited_and_recovers() {
    let s = TestServer::start(&["--messages-per-second", "2", "--message-burst", "3"]).await;
    let (alice, bob) = (s.user("alice").await, s.user("bob").await);
    let mut a = s.connect_user(&alice, None).await;
    let mut b = s.connect_user(&bob, None).await;

    let mut stored = Vec::new();
    let mut limited = 0;
    for i in 0..12 {
        let ack = a.emit_with_ack(events::CHAT_MESSAGE, json!(format!("burst {i}")), WAIT).await;
        if ack["success"] == json!(true) {
            assert_eq!(limited, 0, "a message got through after the limit hit, within the burst: {ack}");
            stored.push(ack["id"].as_str().unwrap().to_owned());
        } else {
            assert_eq!(ack, failed(errors::RATE_LIMITED));
            limited += 1;
        }
    }
    assert!((3..=6).contains(&stored.len()), "{} of 12 quick messages stored (burst 3, 2/s)", stored.len());
    for _ in 0..limited {
        assert_eq!(a.next_error().await, errors::RATE_LIMITED);
    }
    for id in &stored {
        assert_eq!(&b.next_message().await.id, id, "only stored messages are broadcast");
    }

    // Another socket of the same user has its own budget.
    let other = s.connect_user(&alice, None).await;
    let other_id = other.send("from a fresh socket").await;
    assert_eq!(b.next_message().await.id, other_id);

    // The limited socket is still connected and may send again once tokens refill.
    let a_ref = &a;
    let recovered = eventually("the rate limit lets messages through again", WAIT, || async move {
        let ack = a_ref.emit_with_ack(events::CHAT_MESSAGE, json!("after the pause"), WAIT).await;
        ack["id"].as_str().map(str::to_owned)
    })
    .await;
    assert_eq!(b.next_message().await.id, recovered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_rate_limits_turns_off_the_message_limit_and_the_connection_cap() {
    let s = TestServer::start(&[
        "--no-rate-limits",
        "--messages-per-second",
        "1",
        "--message-burst",
        "1",
        "--max-connections-per-ip",
        "1",
    ])
    .await;
    let alice = s.user("alice").await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(s.connect_user(&alice, None).await);
    }
    for i in 0..40 {
        clients[0].send(&format!("fast {i}")).await;
    }
    for c in clients {
        c.disconnect().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_address_are_capped_and_the_others_keep_working() {
    let s = TestServer::start(&["--max-connections-per-ip", "2"]).await;
    let (alice, bob) = (s.user("alice").await, s.user("bob").await);
    let a = s.connect_user(&alice, None).await;
    let mut b = s.connect_user(&bob, None).await;
    let refused = s.connect(&alice.token, None).await;
    assert!(refused.is_err(), "a third connection from 127.0.0.1 is refused");

    let id = a.send("still connected").await;
    assert_eq!(b.next_message().await.id, id);

    // Another address is not affected.
    let mut raw =
        s.connect_raw(&bob.token, defaults::ROOM, Some(loopback(2))).await.expect("127.0.0.2 connects");
    let id = raw.send_ok("from another address").await;
    assert_eq!(b.next_message().await.id, id);

    // Closing one frees a slot.
    a.disconnect().await;
    let (server, token) = (&s, &alice.token);
    let again =
        eventually(
            "a freed slot is reusable",
            WAIT,
            || async move { server.connect(token, None).await.ok() },
        )
        .await;
    let id = again.send("back again").await;
    assert_eq!(b.next_message().await.id, id);
    raw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_connection_cap_counts_each_client() {
    let s = TestServer::start(&["--max-connections-per-ip", "1", "--trusted-proxy", "127.0.0.0/30"]).await;
    let alice = s.user("alice").await;
    let via_proxy = |client: &'static str| {
        let headers = [("x-forwarded-for", client)];
        let (s, token) = (&s, alice.token.clone());
        async move { s.connect_raw_with(&token, defaults::ROOM, Some(loopback(1)), &headers).await }
    };
    let mut first = via_proxy("198.51.100.1").await.expect("the first client");
    let mut second = via_proxy("198.51.100.2").await.expect("another client behind the same proxy");
    let refused = via_proxy("198.51.100.1").await.err();
    assert_eq!(refused.as_deref(), Some(errors::TOO_MANY_CONNECTIONS), "the first client's second socket");
    first.send_ok("first").await;
    second.send_ok("second").await;
    // From a peer outside --trusted-proxy the header means nothing.
    let headers = [("x-forwarded-for", "198.51.100.3")];
    let mut direct =
        s.connect_raw_with(&alice.token, defaults::ROOM, Some(loopback(9)), &headers).await.unwrap();
    let headers = [("x-forwarded-for", "198.51.100.4")];
    let spoofed = s.connect_raw_with(&alice.token, defaults::ROOM, Some(loopback(9)), &headers).await.err();
    assert_eq!(spoofed.as_deref(), Some(errors::TOO_MANY_CONNECTIONS));
    direct.send_ok("direct").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_info_is_null_for_unknown_ids_and_refuses_non_string_ones() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let alice = s.user("alice").await;
    let mut a = s.connect_user(&alice, None).await;
    for arg in [json!("nope"), json!(""), json!(random_object_id()), json!("x".repeat(100))] {
        let info = a.emit_with_ack(events::USER_INFO, arg.clone(), WAIT).await;
        assert_eq!(info, Value::Null, "user.info {arg}");
    }
    a.expect_no_event(events::ERROR, QUIET).await;
    // Like every other event, a mistyped argument is refused with an `error` event.
    for arg in [json!(42), json!({"socketId": "x"}), Value::Null] {
        let info = a.emit_with_ack(events::USER_INFO, arg.clone(), WAIT).await;
        assert_eq!(info, Value::Null, "user.info {arg}");
        assert_eq!(a.next_error().await, errors::SOCKET_ID_INVALID, "user.info {arg}");
    }
    a.send("still connected").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_info_describes_own_and_other_sockets_with_their_chat_rooms() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let (alice, bob) = (s.user("alice").await, s.user("bob").await);
    let info = |sid: &str, user: &harness::TestUser, rooms: &[&str]| {
        let rooms = rooms.iter().map(|r| r.to_string()).collect();
        let summary = UserSummary { username: user.username.clone() };
        serde_json::to_value(UserInfo { socket_id: sid.to_owned(), rooms, user: summary }).unwrap()
    };
    let a = s.connect_user(&alice, Some("r1")).await;
    let mut raw = s.connect_raw(&bob.token, "r9", None).await.expect("raw connect");
    assert_ne!(a.sid, raw.sid);

    assert_eq!(
        a.emit_with_ack(events::USER_INFO, json!(a.sid), WAIT).await,
        info(&a.sid, &alice, &["r1"]),
        "self"
    );
    assert_eq!(
        raw.emit_with_ack(events::USER_INFO, &[json!(raw.sid)]).await,
        info(&raw.sid, &bob, &["r9"]),
        "self"
    );
    assert_eq!(
        raw.emit_with_ack(events::USER_INFO, &[json!(a.sid)]).await,
        info(&a.sid, &alice, &["r1"]),
        "other"
    );
    assert_eq!(
        a.emit_with_ack(events::USER_INFO, json!(raw.sid), WAIT).await,
        info(&raw.sid, &bob, &["r9"]),
        "other"
    );

    assert_eq!(
        a.emit_with_ack(events::CHAT_JOIN, json!("r2"), WAIT).await,
        serde_json::to_value(RoomAck::room("r2")).unwrap()
    );
    let mut seen: UserInfo =
        serde_json::from_value(raw.emit_with_ack(events::USER_INFO, &[json!(a.sid)]).await).unwrap();
    seen.rooms.sort();
    assert_eq!(serde_json::to_value(seen).unwrap(), info(&a.sid, &alice, &["r1", "r2"]), "after chat.join");

    let sid = a.sid.clone();
    a.disconnect().await;
    let deadline = Instant::now() + WAIT;
    while !raw.emit_with_ack(events::USER_INFO, &[json!(sid)]).await.is_null() {
        assert!(Instant::now() < deadline, "user.info still describes a closed socket");
        sleep(Duration::from_millis(50)).await;
    }
    raw.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_payloads_get_errors_and_the_socket_keeps_working() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let (alice, bob) = (s.user("alice").await, s.user("bob").await);
    let mut raw = s.connect_raw(&alice.token, defaults::ROOM, None).await.expect("raw connect");
    let mut watcher = s.connect_user(&bob, None).await;
    let room_failed = serde_json::to_value(RoomAck::failed(errors::ROOM_INVALID_PAYLOAD)).unwrap();
    let mut stored = Vec::new();

    // chat.message without any argument.
    raw.send_text(r#"42["chat.message"]"#).await;
    assert_eq!(raw.next_event(events::ERROR, WAIT).await, json!({"message": errors::MESSAGE_INVALID}));
    let ack = raw.emit_with_ack(events::CHAT_MESSAGE, &[]).await;
    assert_eq!(ack, failed(errors::MESSAGE_INVALID));
    assert_eq!(raw.next_event(events::ERROR, WAIT).await, json!({"message": errors::MESSAGE_INVALID}));
    stored.push(raw.send_ok("after no argument").await);

    // Room events with no or mistyped arguments.
    let room_cases: [(&str, &[Value]); 5] = [
        (events::CHAT_JOIN, &[]),
        (events::CHAT_JOIN, &[json!(5)]),
        (events::CHAT_JOIN, &[json!({"rooms": "x"})]),
        (events::CHAT_LEAVE, &[Value::Null]),
        (events::CHAT_LEAVE, &[json!(["x"])]),
    ];
    for (event, args) in room_cases {
        assert_eq!(raw.emit_with_ack(event, args).await, room_failed, "{event} {args:?}");
        let error = raw.next_event(events::ERROR, WAIT).await;
        assert_eq!(error, json!({"message": errors::ROOM_INVALID_PAYLOAD}), "{event} {args:?}");
    }
    for args in [&[][..], &[json!(42)], &[json!("a"), json!("b")]] {
        assert_eq!(raw.emit_with_ack(events::USER_INFO, args).await, Value::Null, "user.info {args:?}");
        let error = raw.next_event(events::ERROR, WAIT).await;
        assert_eq!(error, json!({"message": errors::SOCKET_ID_INVALID}), "user.info {args:?}");
    }
    stored.push(raw.send_ok("after room payloads").await);

    // An event the server does not know is ignored.
    raw.emit("no.such.event", &[json!("x")]).await;
    stored.push(raw.send_ok("after an unknown event").await);

    // A binary attachment instead of text.
    raw.send_text(r#"451-["chat.message",{"_placeholder":true,"num":0}]"#).await;
    raw.send_binary(vec![0, 159, 146, 150]).await;
    let error = raw.next_event(events::ERROR, WAIT).await;
    assert_eq!(error, json!({"message": errors::MESSAGE_INVALID}), "binary attachment");
    stored.push(raw.send_ok("after a binary attachment").await);

    for id in stored {
        assert_eq!(watcher.next_message().await.id, id, "only valid messages are broadcast");
    }
    watcher.expect_no_event(events::CHAT_MESSAGE, QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_garbage_and_oversized_frames_do_not_affect_other_clients() {
    // Messages may be longer than frames here, so only the frame limit can stop the big one.
    let s = TestServer::start(&[
        "--no-rate-limits",
        "--max-frame-bytes",
        "4096",
        "--max-message-bytes",
        "100000",
    ])
    .await;
    let (alice, bob, carol) = (s.user("alice").await, s.user("bob").await, s.user("carol").await);
    let mut watcher = s.connect_user(&bob, None).await;
    let speaker = s.connect_user(&carol, None).await;
    let oversized = format!(r#"42["chat.message","{}"]"#, "x".repeat(5000));
    let garbage = ["hello", "4", "42[", r#"42{"a":1}"#, "49[]", r#"4/nowhere,0{}"#, "0", oversized.as_str()];
    for (i, frame) in garbage.into_iter().enumerate() {
        let mut bad = s.connect_raw(&alice.token, defaults::ROOM, None).await.expect("raw connect");
        bad.send_text(frame).await;
        if frame == oversized {
            let code = bad.close_code_within(WAIT).await;
            assert_eq!(code, Some(1009), "a frame above --max-frame-bytes closes with 1009 (too big)");
        }
        let id = speaker.send(&format!("after garbage {i}")).await;
        assert_eq!(watcher.next_message().await.id, id, "after {:.40}", frame);
        bad.close().await;
    }
    // A stray binary frame with no binary packet announced.
    let mut bad = s.connect_raw(&alice.token, defaults::ROOM, None).await.expect("raw connect");
    bad.send_binary(vec![1, 2, 3]).await;
    let id = speaker.send("after a stray binary frame").await;
    assert_eq!(watcher.next_message().await.id, id);
    bad.close().await;

    // The server still accepts and serves new clients.
    let mut fresh =
        s.connect_raw(&alice.token, defaults::ROOM, None).await.expect("new clients still welcome");
    let id = fresh.send_ok("fresh").await;
    assert_eq!(watcher.next_message().await.id, id);
    watcher.expect_no_event(events::CHAT_MESSAGE, QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_up_to_socket_io_s_own_cap_get_an_answer_and_larger_packets_close_with_1009() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let alice = s.user("alice").await;
    let mut raw = s.connect_raw(&alice.token, defaults::ROOM, None).await.expect("raw connect");
    let too_long = errors::message_too_long(defaults::MAX_MESSAGE_BYTES);
    // Under socket.io's maxHttpBufferSize (1e6 bytes with the packet's framing).
    for size in [70 * 1024, 200 * 1024, 990_000] {
        let ack = raw.emit_with_ack(events::CHAT_MESSAGE, &[json!("x".repeat(size))]).await;
        assert_eq!(ack, failed(&too_long), "{size} bytes");
        assert_eq!(raw.next_event(events::ERROR, WAIT).await, json!({"message": too_long}), "{size} bytes");
    }
    raw.send_ok("still connected").await;

    // Above it the connection closes, with a code the client can read.
    raw.emit(events::CHAT_MESSAGE, &[json!("x".repeat(defaults::MAX_FRAME_BYTES + 1))]).await;
    assert_eq!(raw.close_code_within(WAIT).await, Some(1009));

    // A token of 100 KB is refused like any other bad token, so the client stops retrying.
    let refused = s.connect_raw(&"x".repeat(100_000), defaults::ROOM, None).await.err();
    assert_eq!(refused.as_deref(), Some(errors::AUTH_INVALID_TOKEN));
}

/// One Engine.IO long-polling session spoken by hand: `GET` reads packets, `POST` sends them.
struct Polling {
    http: reqwest::Client,
    url: String,
}

impl Polling {
    async fn open(s: &TestServer, token: &str) -> Self {
        let http = harness::http_client(None);
        let base = s.url("/socket.io/?EIO=4&transport=polling");
        let open = http.get(&base).send().await.expect("open").text().await.expect("open body");
        let open: Value = serde_json::from_str(open.strip_prefix('0').expect("open packet")).expect("json");
        let url = format!("{base}&sid={}", open["sid"].as_str().expect("sid"));
        let polling = Self { http, url };
        assert_eq!(polling.post(&format!("40{}", json!({ "token": token }))).await, 200);
        polling.until("40{").await;
        polling
    }

    async fn post(&self, body: &str) -> u16 {
        let reply = self.http.post(&self.url).body(body.to_owned()).send().await.expect("POST");
        reply.status().as_u16()
    }

    /// The packets of one `GET`, split on the record separator.
    async fn get(&self) -> Vec<String> {
        let body = self.http.get(&self.url).send().await.expect("GET").text().await.expect("body");
        body.split('\u{1e}').map(str::to_owned).collect()
    }

    /// Reads until a packet starts with `prefix`; the packets read are returned.
    async fn until(&self, prefix: &str) -> Vec<String> {
        let mut seen = Vec::new();
        while !seen.iter().any(|p: &String| p.starts_with(prefix)) {
            assert!(seen.len() < 100, "no packet starting with {prefix:?} in {seen:?}");
            seen.extend(timeout(WAIT, self.get()).await.expect("a GET within 5 s"));
        }
        seen
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polling_answers_big_messages_and_refuses_bigger_bodies_with_413() {
    let s = TestServer::start(&["--no-rate-limits"]).await;
    let alice = s.user("alice").await;
    let polling = Polling::open(&s, &alice.token).await;
    let too_long = errors::message_too_long(defaults::MAX_MESSAGE_BYTES);
    let big = json!([events::CHAT_MESSAGE, "x".repeat(200 * 1024)]);
    assert_eq!(polling.post(&format!("420{big}")).await, 200);
    let packets = polling.until("430").await;
    assert!(packets.contains(&format!("430{}", json!([failed(&too_long)]))), "{packets:?}");
    let error = format!("42{}", json!([events::ERROR, {"message": too_long}]));
    if !packets.contains(&error) {
        polling.until(&error).await;
    }
    let fine = json!([events::CHAT_MESSAGE, "fine"]);
    assert_eq!(polling.post(&format!("421{fine}")).await, 200);
    let acks = polling.until("431").await;
    assert!(acks.iter().any(|p| p.starts_with(r#"431[{"success":true"#)), "{acks:?}");

    let huge = json!([events::CHAT_MESSAGE, "x".repeat(defaults::MAX_FRAME_BYTES)]);
    assert_eq!(polling.post(&format!("42{huge}")).await, 413, "a body above the cap");
}
