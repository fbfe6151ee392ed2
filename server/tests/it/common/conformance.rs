//! The behaviour every [`Store`] backend must share, as one suite each backend runs.
//!
//! A backend's test file declares this module inline, so that test files which use
//! `mod common;` for other helpers do not compile (and warn about) the suite:
//!
//! ```ignore
//! mod common {
//!     pub mod conformance;
//! }
//! common::conformance::conformance_tests!(fresh_store());
//! ```
//!
//! Checks use their own random usernames and rooms, so they can share one database and run
//! concurrently (the MongoDB suite does both).

use std::{sync::Arc, time::Duration};

use chat_server::store::{Message, SavedSession, Store, StoreError, Window, new_id};
use chrono::{DateTime, Utc};

/// Bounds each check, so a stalled backend fails the test instead of hanging the run.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// Expands to one `#[tokio::test]` per check. `$fixture` is evaluated inside each async test
/// and must give `(Arc<dyn Store>, guard)`; the guard (a temp dir, `()`, …) lives until the
/// check ends. It may `.await`, and may `return` to skip a check when its backend is not
/// configured: `match mongo_store().await { Some(f) => f, None => return }`.
macro_rules! conformance_tests {
    ($fixture:expr) => {
        $crate::common::conformance::conformance_tests!(@each $fixture;
            create_and_find_user,
            lookups_find_the_name_and_its_look_alikes_only,
            look_alike_usernames_are_taken,
            password_hashes_are_stored_verbatim,
            duplicate_username_is_taken,
            concurrent_signups_of_one_name_have_one_winner,
            unknown_and_malformed_ids_are_none,
            empty_batch_is_ok,
            large_batch_round_trips,
            recent_messages_are_oldest_first_in_insertion_order,
            recent_messages_limits,
            paging_back_sees_every_message_once_while_writes_go_on,
            cursors_that_name_no_stored_message_stand_where_their_id_sorts,
            search_needs_every_word_and_pages_back,
            recovery_sessions_are_taken_once_and_expire,
            rooms_are_isolated,
            unicode_round_trips_exactly,
            sent_keeps_milliseconds,
            ping_answers,
            close_makes_later_calls_unavailable,
        );
    };
    (@each $fixture:expr; $($check:ident,)+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let (store, _guard) = $fixture;
                let check = $crate::common::conformance::$check(store);
                tokio::time::timeout($crate::common::conformance::CHECK_TIMEOUT, check)
                    .await
                    .expect("check timed out");
            }
        )+
    };
}
pub(crate) use conformance_tests;

/// A bcrypt hash as the Node backend wrote them.
const BCRYPT: &str = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";
/// A PHC-format argon2id hash as this server writes them.
const ARGON2: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3y9/2Yq2m8t7Yl2m1nqMBo0yY4qx3bN1F0Tt0wzZ6Xk";

/// `prefix` plus 16 hex digits: the per-process random and counter parts of an ObjectId,
/// unique across concurrent tests and test runs against the same database.
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &new_id()[8..])
}

/// A message sent now, truncated to the millisecond precision every backend keeps.
pub fn message(room: &str, username: &str, text: &str) -> Message {
    Message {
        id: new_id(),
        username: username.into(),
        message: text.into(),
        room: room.into(),
        sent: at_millis(Utc::now().timestamp_millis()),
        action: false,
    }
}

fn at_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("timestamp in range")
}

/// `count` messages in `room`, texts numbered from `first`.
fn numbered(room: &str, first: usize, count: usize) -> Vec<Message> {
    (first..first + count).map(|i| message(room, "ann", &format!("message {i}"))).collect()
}

pub async fn create_and_find_user(store: Arc<dyn Store>) {
    let name = unique("ann");
    let user = store.create_user(&name, ARGON2).await.expect("create_user");
    assert_eq!(user.username, name);
    assert_eq!(user.password_hash, ARGON2);
    assert!(
        user.id.len() == 24 && user.id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "id is not a lower-case ObjectId: {:?}",
        user.id
    );
    assert_eq!(store.user_by_name(&name).await.expect("by name"), Some(user.clone()));
    assert_eq!(store.user_by_id(&user.id).await.expect("by id"), Some(user.clone()));
    // ObjectId hex is case-insensitive, in MongoDB and so in every backend.
    assert_eq!(store.user_by_id(&user.id.to_uppercase()).await.expect("by id"), Some(user.clone()));

    let other = store.create_user(&unique("bob"), ARGON2).await.expect("create_user");
    assert_ne!(other.id, user.id);
    assert_eq!(store.user_by_id(&other.id).await.expect("by id"), Some(other));
}

pub async fn lookups_find_the_name_and_its_look_alikes_only(store: Arc<dyn Store>) {
    let name = unique("Carol");
    let carol = store.create_user(&name, BCRYPT).await.expect("create_user");
    let full_width: String = name.chars().map(|c| if c == 'C' { '\u{ff23}' } else { c }).collect();
    for same in [name.clone(), name.to_uppercase(), name.to_lowercase(), full_width] {
        let found = store.user_by_name(&same).await.expect("by name");
        assert_eq!(found.map(|u| u.id), Some(carol.id.clone()), "{same:?}");
    }
    for other in [format!("{name} "), name[..name.len() - 1].into(), format!("x{name}")] {
        assert_eq!(store.user_by_name(&other).await.expect("by name"), None, "{other:?}");
    }
    assert_eq!(store.user_by_name(&unique("nobody")).await.expect("by name"), None);
}

pub async fn look_alike_usernames_are_taken(store: Arc<dyn Store>) {
    let name = unique("alice");
    store.create_user(&name, BCRYPT).await.expect("create_user");
    let cyrillic = name.replacen('a', "\u{430}", 1);
    for look_alike in [name.to_uppercase(), name.replacen('a', "\u{ff41}", 1), cyrillic] {
        let again = store.create_user(&look_alike, ARGON2).await;
        assert!(matches!(again, Err(StoreError::UsernameTaken)), "{look_alike:?}: {again:?}");
    }
    let jose = unique("Jose\u{301}");
    store.create_user(&jose, BCRYPT).await.expect("create_user");
    let composed = jose.replace("e\u{301}", "é");
    let again = store.create_user(&composed, BCRYPT).await;
    assert!(matches!(again, Err(StoreError::UsernameTaken)), "{again:?}");
}

pub async fn password_hashes_are_stored_verbatim(store: Arc<dyn Store>) {
    let bcrypt_2a = BCRYPT.replacen("$2b$", "$2a$", 1);
    for hash in [BCRYPT, &bcrypt_2a, ARGON2] {
        let created = store.create_user(&unique("hash"), hash).await.expect("create_user");
        let by_name = store.user_by_name(&created.username).await.expect("by name").expect("found");
        let by_id = store.user_by_id(&created.id).await.expect("by id").expect("found");
        assert_eq!(by_name.password_hash, hash);
        assert_eq!(by_id.password_hash, hash);
    }
}

pub async fn duplicate_username_is_taken(store: Arc<dyn Store>) {
    let name = unique("dave");
    let first = store.create_user(&name, BCRYPT).await.expect("create_user");
    let again = store.create_user(&name, ARGON2).await;
    assert!(matches!(again, Err(StoreError::UsernameTaken)), "{again:?}");
    // The refused signup changed nothing.
    assert_eq!(store.user_by_name(&name).await.expect("by name"), Some(first));
}

pub async fn concurrent_signups_of_one_name_have_one_winner(store: Arc<dyn Store>) {
    let name = unique("erin");
    let signups: Vec<_> = (0..20)
        .map(|i| {
            let (store, name) = (Arc::clone(&store), name.clone());
            tokio::spawn(async move { store.create_user(&name, &format!("{ARGON2}{i}")).await })
        })
        .collect();
    let mut winners = Vec::new();
    for signup in signups {
        match signup.await.expect("signup task") {
            Ok(user) => winners.push(user),
            Err(StoreError::UsernameTaken) => {}
            Err(e) => panic!("expected UsernameTaken, got {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(store.user_by_name(&name).await.expect("by name"), winners.pop());
}

pub async fn unknown_and_malformed_ids_are_none(store: Arc<dyn Store>) {
    let user = store.create_user(&unique("fay"), BCRYPT).await.expect("create_user");
    let malformed = [
        String::new(),
        "zzz".into(),
        "123".into(),
        "zzzzzzzzzzzzzzzzzzzzzzzz".into(),
        "' OR '1'='1".into(),
        user.id[..23].into(),
        format!("{}0", user.id),
        format!(" {}", user.id),
        new_id(),
    ];
    for id in malformed {
        assert_eq!(store.user_by_id(&id).await.expect("malformed id is not an error"), None, "{id:?}");
    }
}

pub async fn empty_batch_is_ok(store: Arc<dyn Store>) {
    let room = unique("empty");
    store.insert_messages(&[]).await.expect("empty batch");
    assert_eq!(store.recent_messages(&room, 10).await.expect("recent"), vec![]);
}

pub async fn large_batch_round_trips(store: Arc<dyn Store>) {
    let room = unique("large");
    let batch = numbered(&room, 0, 500);
    store.insert_messages(&batch).await.expect("500-message batch");
    assert_eq!(store.recent_messages(&room, 1000).await.expect("recent"), batch);
    assert_eq!(store.recent_messages(&room, 500).await.expect("recent"), batch);
    assert_eq!(store.recent_messages(&room, 10).await.expect("recent"), batch[490..]);
}

/// Insertion order, not `sent` order: a clock that steps back must not reorder history.
pub async fn recent_messages_are_oldest_first_in_insertion_order(store: Arc<dyn Store>) {
    let room = unique("order");
    let first = numbered(&room, 0, 3);
    let mut second = numbered(&room, 3, 1);
    second[0].sent = at_millis(first[0].sent.timestamp_millis() - 60_000);
    let third = numbered(&room, 4, 4);
    for batch in [&first, &second, &third] {
        store.insert_messages(batch).await.expect("insert");
    }
    let all = [first, second, third].concat();
    assert_eq!(store.recent_messages(&room, 100).await.expect("recent"), all);
    assert_eq!(store.recent_messages(&room, 5).await.expect("recent"), all[3..]);
}

pub async fn recent_messages_limits(store: Arc<dyn Store>) {
    let room = unique("limits");
    let all = numbered(&room, 0, 5);
    store.insert_messages(&all).await.expect("insert");
    for (limit, expected) in
        [(0, &all[5..]), (1, &all[4..]), (3, &all[2..]), (5, &all[..]), (6, &all[..]), (usize::MAX, &all[..])]
    {
        assert_eq!(store.recent_messages(&room, limit).await.expect("recent"), expected, "limit {limit}");
    }
}

pub async fn rooms_are_isolated(store: Arc<dyn Store>) {
    let (a, b) = (unique("roomA"), unique("roomB"));
    let batch = [
        message(&a, "ann", "a1"),
        message(&b, "bob", "b1"),
        message(&a, "ann", "a2"),
        message(&b, "bob", "b2"),
        message(&a, "ann", "a3"),
    ];
    store.insert_messages(&batch).await.expect("insert");
    let of = |room: &str| batch.iter().filter(|m| m.room == room).cloned().collect::<Vec<_>>();
    assert_eq!(store.recent_messages(&a, 10).await.expect("recent"), of(&a));
    assert_eq!(store.recent_messages(&b, 10).await.expect("recent"), of(&b));
    assert_eq!(store.recent_messages(&a, 2).await.expect("recent"), of(&a)[1..]);
    assert_eq!(store.recent_messages(&a.to_lowercase(), 10).await.expect("recent"), vec![]);
    assert_eq!(store.recent_messages(&unique("roomC"), 10).await.expect("recent"), vec![]);
}

pub async fn unicode_round_trips_exactly(store: Arc<dyn Store>) {
    let name = unique("李小龙");
    let decomposed = unique("Zoe\u{301}");
    let mut users = Vec::new();
    for name in [&name, &decomposed] {
        let user = store.create_user(name, ARGON2).await.expect("create_user");
        assert_eq!(&user.username, name, "stored as given");
        assert_eq!(store.user_by_name(name).await.expect("by name"), Some(user.clone()));
        users.push(user);
    }
    // The other normal form is the same name, by its key.
    let composed = decomposed.replace("e\u{301}", "é");
    assert_eq!(store.user_by_name(&composed).await.expect("by name").as_ref(), users.last());

    let room = unique("聊天室");
    let texts = [
        "你好，世界".to_string(),
        "😀👍🏽👨‍👩‍👧‍👦🇯🇵".into(),
        "e\u{301} vs é".into(),
        "مرحبا بالعالم".into(),
        "line 1\nline 2\ttab \"quotes\" 'single' \\backslash".into(),
        "'; DROP TABLE messages; --".into(),
        "日本語🙂".repeat(2000),
    ];
    let batch: Vec<_> = texts.iter().map(|t| message(&room, &name, t)).collect();
    store.insert_messages(&batch).await.expect("insert");
    assert_eq!(store.recent_messages(&room, 100).await.expect("recent"), batch);
}

/// `sent` keeps milliseconds and drops anything finer (truncating, as BSON dates do).
pub async fn sent_keeps_milliseconds(store: Arc<dyn Store>) {
    let room = unique("sent");
    let cases = [
        (DateTime::from_timestamp(1_700_000_000, 123_456_789), 1_700_000_000_123),
        (DateTime::from_timestamp(1_700_000_000, 999_999_999), 1_700_000_000_999),
        (DateTime::from_timestamp(1, 1_000_000), 1_001),
        (DateTime::from_timestamp(32_503_679_999, 999_000_000), 32_503_679_999_999),
    ];
    let batch: Vec<_> = cases
        .iter()
        .map(|(sent, _)| Message { sent: sent.expect("valid time"), ..message(&room, "ann", "t") })
        .collect();
    store.insert_messages(&batch).await.expect("insert");
    let got = store.recent_messages(&room, 10).await.expect("recent");
    let got_ms: Vec<_> = got.iter().map(|m| m.sent.timestamp_millis()).collect();
    let want_ms: Vec<_> = cases.iter().map(|&(_, ms)| ms).collect();
    assert_eq!(got_ms, want_ms);
    assert!(got.iter().all(|m| m.sent.timestamp_subsec_nanos() % 1_000_000 == 0), "{got:?}");
}

pub async fn ping_answers(store: Arc<dyn Store>) {
    store.ping().await.expect("ping");
}

pub async fn close_makes_later_calls_unavailable(store: Arc<dyn Store>) {
    let user = store.create_user(&unique("gus"), BCRYPT).await.expect("create_user");
    let room = unique("closed");
    store.insert_messages(&numbered(&room, 0, 2)).await.expect("insert");
    store.close().await;

    let unavailable = |what: &str, e: Option<StoreError>| {
        assert!(matches!(e, Some(StoreError::Unavailable(_))), "{what} after close: {e:?}");
    };
    unavailable("create_user", store.create_user(&unique("gus"), BCRYPT).await.err());
    unavailable("user_by_name", store.user_by_name(&user.username).await.err());
    unavailable("user_by_id", store.user_by_id(&user.id).await.err());
    unavailable("insert_messages", store.insert_messages(&numbered(&room, 2, 1)).await.err());
    unavailable("recent_messages", store.recent_messages(&room, 10).await.err());
    unavailable("ping", store.ping().await.err());
    // A second close (shutdown racing a failed start, say) is harmless.
    store.close().await;
}

/// Property: paging back from the newest page with `before` cursors, whatever the page sizes,
/// while new messages keep arriving between pages, yields every message that existed at the
/// first read exactly once, in order, and nothing newer.
pub async fn paging_back_sees_every_message_once_while_writes_go_on(store: Arc<dyn Store>) {
    use proptest::{
        prelude::*,
        test_runner::{Config, TestCaseError, TestRunner},
    };
    let mut runner = TestRunner::new(Config { cases: 24, failure_persistence: None, ..Config::default() });
    // (messages at the start, [(page size, messages written before the next page)])
    let strategy = (0usize..80, prop::collection::vec((1usize..30, 0usize..12), 1..8));
    let handle = tokio::runtime::Handle::current();
    let result = runner.run(&strategy, |(initial, steps)| {
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                let room = unique("paging");
                let existing = numbered(&room, 0, initial);
                store.insert_messages(&existing).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
                let mut written = initial;
                let (mut pages, mut before) = (Vec::new(), None::<String>);
                for (limit, writes) in steps.iter().cycle() {
                    let page = store
                        .messages(&room, Window::Before(before.as_deref()), *limit)
                        .await
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let done = page.len() < *limit;
                    before = page.first().map(|m| m.id.clone());
                    pages.push(page);
                    let newer = numbered(&room, written, *writes);
                    written += writes;
                    store.insert_messages(&newer).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
                    if done || before.is_none() {
                        break;
                    }
                }
                let seen: Vec<String> = pages.iter().rev().flatten().map(|m| m.id.clone()).collect();
                let expected: Vec<String> = existing.iter().map(|m| m.id.clone()).collect();
                prop_assert_eq!(seen, expected);
                Ok(())
            })
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// A cursor whose message was never stored (a failed write, another room's) pages from where
/// its id sorts; `after` reads forwards the same way.
pub async fn cursors_that_name_no_stored_message_stand_where_their_id_sorts(store: Arc<dyn Store>) {
    let room = unique("cursor");
    let first = numbered(&room, 0, 5);
    // Drawn after the first five ids and before the last five.
    let never_stored = new_id();
    let second = numbered(&room, 5, 5);
    store.insert_messages(&first).await.expect("first half");
    store.insert_messages(&second).await.expect("second half");
    let ids = |ms: Vec<Message>| ms.into_iter().map(|m| m.id).collect::<Vec<_>>();
    let all: Vec<String> = first.iter().chain(&second).map(|m| m.id.clone()).collect();
    let before = store.messages(&room, Window::Before(Some(&never_stored)), 100).await.expect("before");
    assert_eq!(ids(before), all[..5]);
    let after = store.messages(&room, Window::After(&never_stored), 100).await.expect("after");
    assert_eq!(ids(after), all[5..]);
    let after_third = store.messages(&room, Window::After(&all[2]), 3).await.expect("after an id");
    assert_eq!(ids(after_third), all[3..6]);
    let from_the_start = store.messages(&room, Window::After("000000000000000000000000"), 100).await;
    assert_eq!(ids(from_the_start.expect("from the start")), all);
}

/// Search matches every word, case and accents aside, in one room only, newest page first.
pub async fn search_needs_every_word_and_pages_back(store: Arc<dyn Store>) {
    let (room, other) = (unique("search"), unique("search"));
    let texts = ["Hello world", "hello there", "nothing", "Grüße aus Köln", "HELLO again world"];
    let batch: Vec<Message> = texts.iter().map(|t| message(&room, "ann", t)).collect();
    store.insert_messages(&batch).await.expect("insert");
    store.insert_messages(&[message(&other, "bob", "hello elsewhere")]).await.expect("insert other");
    let words = |q: &str| q.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let texts_of = |ms: Vec<Message>| ms.into_iter().map(|m| m.message).collect::<Vec<_>>();
    let hello = store.search_messages(&room, &words("hello"), None, 10).await.expect("search");
    assert_eq!(texts_of(hello), ["Hello world", "hello there", "HELLO again world"]);
    let both = store.search_messages(&room, &words("world HELLO"), None, 10).await.expect("search");
    assert_eq!(texts_of(both), ["Hello world", "HELLO again world"]);
    let koln = store.search_messages(&room, &words("köln"), None, 10).await.expect("search");
    assert_eq!(texts_of(koln), ["Grüße aus Köln"]);
    let newest = store.search_messages(&room, &words("hello"), None, 1).await.expect("search");
    let older = store.search_messages(&room, &words("hello"), Some(&newest[0].id), 10).await.expect("page");
    assert_eq!(texts_of(older), ["Hello world", "hello there"]);
    assert!(store.search_messages(&room, &words("absent"), None, 10).await.expect("search").is_empty());
}

/// A saved recovery session is taken once, whole; an expired one is never given back.
pub async fn recovery_sessions_are_taken_once_and_expire(store: Arc<dyn Store>) {
    let session = SavedSession {
        pid: unique("pid"),
        user_id: new_id(),
        rooms: vec!["public".into(), "dev".into()],
        expires: at_millis(Utc::now().timestamp_millis() + 60_000),
    };
    store.save_session(&session).await.expect("save");
    assert_eq!(store.take_session(&session.pid).await.expect("take"), Some(session.clone()));
    assert_eq!(store.take_session(&session.pid).await.expect("take again"), None);
    let expired =
        SavedSession { pid: unique("pid"), expires: at_millis(Utc::now().timestamp_millis() - 1), ..session };
    store.save_session(&expired).await.expect("save expired");
    assert_eq!(store.take_session(&expired.pid).await.expect("take expired"), None);
    assert_eq!(store.take_session("no-such-pid").await.expect("take unknown"), None);
}
