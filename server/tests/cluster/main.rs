//! Several real `chat-server` processes sharing one adapter backend and one MongoDB store,
//! with clients on different nodes: each test runs on both adapters (`redis::<test>` on a Redis
//! of its own, `mongodb::<test>` on the MongoDB test server), except the Redis outage test.
//! They skip (with a line on stderr) when the MongoDB tests do; see [`harness::mongo`].
//!
//! A test binary of its own, apart from `tests/it`: each test runs three servers and a backend,
//! and their cross-node timing must not share the machine with the other integration tests
//! (run together, the MongoDB history test's flood saw a gap about once in three full runs; cargo
//! runs test binaries one after another).

// Shared with tests/it: each binary uses its part of it.
#[allow(dead_code, unused_macros, unused_imports)]
#[path = "../it/harness/mod.rs"]
mod harness;

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use harness::{
    NOTICE, QUIET, SioClient, WAIT, assert_seamless,
    cluster::{Backend, Cluster, OwnRedis, run_to_exit},
    eventually,
    mongo::OwnServer,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::{api, events, payload::ChatMessage};
use tokio::time::Instant;

/// One `#[tokio::test]` per adapter for each test body, which takes the backend.
macro_rules! on_both_adapters {
    ($($test:ident),+ $(,)?) => {
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::Redis).await;
                }
            )+
        }
        mod mongodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::Mongodb).await;
                }
            )+
        }
    };
}

on_both_adapters!(
    bursts_from_several_nodes_reach_every_member_once_in_sender_order,
    join_leave_and_user_info_work_across_nodes,
    a_killed_node_leaves_the_others_serving_and_its_clients_catch_up_elsewhere,
    history_then_live_has_no_gap_and_no_duplicate_while_other_nodes_write,
    presence_members_typing_and_direct_messages_work_across_nodes,
    a_client_resuming_on_another_node_after_a_kill_sees_every_message_once,
);

/// Collects chat messages (not notices) on `client` until `n` arrived or `within` passed.
async fn collect(client: &mut SioClient, n: usize, within: Duration) -> Vec<ChatMessage> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(args) = client.try_next_args(events::CHAT_MESSAGE, left).await else { break };
        let v = args.into_iter().next().unwrap_or(Value::Null);
        got.push(serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("bad chat.message {v}: {e}")));
    }
    got
}

async fn bursts_from_several_nodes_reach_every_member_once_in_sender_order(backend: Backend) {
    // Past the drivers' default buffers (fred 32, socketioxide-redis 1 024), which drop silently;
    // fewer on MongoDB, whose test server (SecantusDB) is slow.
    let per_sender = match backend {
        Backend::Redis => 400,
        Backend::Mongodb => 60,
    };
    let Some(cluster) = Cluster::start(backend, 3).await else { return };
    let mut clients = Vec::new();
    let mut names = Vec::new();
    // Two members on each node, all sending at once.
    for (i, node) in cluster.nodes.iter().chain(&cluster.nodes).enumerate() {
        let user = node.user(&format!("n{i}")).await;
        names.push(user.username.clone());
        clients.push(node.connect_user(&user, Some("busy")).await);
    }
    // Every node has a member in the room before anyone speaks.
    for c in &mut clients {
        while c.try_next_args(NOTICE, QUIET).await.is_some() {}
    }
    futures_util::future::join_all(clients.iter().enumerate().map(|(i, c)| async move {
        for n in 0..per_sender {
            c.emit(events::CHAT_MESSAGE, json!(format!("{i}:{n}"))).await;
        }
    }))
    .await;
    let total = per_sender * clients.len();
    for (who, c) in clients.iter_mut().enumerate() {
        let got = collect(c, total, Duration::from_secs(60)).await;
        let mut ids = HashSet::new();
        let twice: Vec<&str> =
            got.iter().filter(|m| !ids.insert(m.id.as_str())).map(|m| m.message.as_str()).collect();
        assert!(twice.is_empty(), "member {who}: {} duplicates: {twice:?}", twice.len());
        assert_eq!(got.len(), total, "member {who}: {} of {total} arrived", got.len());
        let mut next: HashMap<String, usize> = HashMap::new();
        for m in &got {
            let (sender, n) = m.message.split_once(':').expect("i:n");
            let n: usize = n.parse().expect("n");
            let expected = next.entry(sender.to_owned()).or_default();
            assert_eq!(n, *expected, "member {who}: sender {sender} out of order");
            assert_eq!(m.username, names[sender.parse::<usize>().expect("i")]);
            *expected += 1;
        }
        c.expect_no_event(events::CHAT_MESSAGE, QUIET).await;
    }
}

async fn join_leave_and_user_info_work_across_nodes(backend: Backend) {
    let Some(cluster) = Cluster::start(backend, 2).await else { return };
    let (n0, n1) = (&cluster.nodes[0], &cluster.nodes[1]);
    let (alice, bob) = (n0.user("alice").await, n1.user("bob").await);
    let mut a = n0.connect_user(&alice, None).await;
    let mut b = n1.connect_user(&bob, None).await;
    let b_sid = b.sid.clone();
    let info =
        |rooms: &[&str]| json!({"socketId": b_sid, "rooms": rooms, "user": {"username": bob.username}});

    // user.info of a socket on the other node: the same answer as on its own node (a loaded
    // test MongoDB may need more than one request timeout: ask until it answers).
    let lookup = async |expected: Value| {
        eventually("a remote user.info", Duration::from_secs(15), || async {
            let got = a.emit_with_ack(events::USER_INFO, json!(b_sid), Duration::from_secs(10)).await;
            (got == expected).then_some(got)
        })
        .await
    };
    let remote = lookup(info(&["public"])).await;
    assert_eq!(b.emit_with_ack(events::USER_INFO, json!(b.sid), WAIT).await, remote);

    assert_eq!(b.emit_with_ack(events::CHAT_JOIN, json!("side"), WAIT).await["success"], json!(true));
    lookup(info(&["public", "side"])).await;
    assert_eq!(a.emit_with_ack(events::CHAT_JOIN, json!("side"), WAIT).await["success"], json!(true));
    let ack =
        a.emit_with_ack(events::CHAT_MESSAGE, json!({"room": "side", "message": "to side"}), WAIT).await;
    assert_eq!(ack["success"], json!(true), "{ack}");
    let m = b.next_message().await;
    assert_eq!((m.room.as_str(), m.message.as_str()), ("side", "to side"));

    assert_eq!(b.emit_with_ack(events::CHAT_LEAVE, json!("side"), WAIT).await["success"], json!(true));
    lookup(info(&["public"])).await;
    a.emit_with_ack(events::CHAT_MESSAGE, json!({"room": "side", "message": "after leave"}), WAIT).await;
    while a.next_message().await.message != "after leave" {}
    b.expect_no_event(events::CHAT_MESSAGE, QUIET).await;

    // Unknown and departed sockets answer null, within the adapter's request timeout (2 s).
    let started = Instant::now();
    assert_eq!(a.emit_with_ack(events::USER_INFO, json!("no-such-socket"), WAIT).await, Value::Null);
    assert!(started.elapsed() < Duration::from_secs(4), "unknown id took {:?}", started.elapsed());
    let gone = b.sid.clone();
    b.disconnect().await;
    eventually("a departed socket answers null", WAIT, || async {
        a.emit_with_ack(events::USER_INFO, json!(gone), WAIT).await.is_null().then_some(())
    })
    .await;
}

async fn a_killed_node_leaves_the_others_serving_and_its_clients_catch_up_elsewhere(backend: Backend) {
    let Some(mut cluster) = Cluster::start(backend, 3).await else { return };
    let (alice, bob, carol) = (
        cluster.nodes[0].user("alice").await,
        cluster.nodes[1].user("bob").await,
        cluster.nodes[2].user("carol").await,
    );
    let a = cluster.nodes[0].connect_user(&alice, Some("crash")).await;
    let mut b = cluster.nodes[1].connect_user(&bob, Some("crash")).await;
    let _c = cluster.nodes[2].connect_user(&carol, Some("crash")).await;

    let mut acked = Vec::new();
    for i in 0..40 {
        if i == 20 {
            cluster.nodes[2].kill9();
        }
        acked.push(a.send(&format!("m{i}")).await);
    }
    // The survivors saw every message exactly once, in order.
    let got: Vec<String> =
        collect(&mut b, acked.len(), Duration::from_secs(10)).await.into_iter().map(|m| m.id).collect();
    assert_eq!(got, acked);

    // carol's client reconnects through the load balancer to another node and catches up.
    let mut c = cluster.nodes[1].connect_user(&carol, Some("crash")).await;
    let replayed: Vec<String> = collect(&mut c, acked.len(), WAIT).await.into_iter().map(|m| m.id).collect();
    assert_eq!(replayed, acked, "history on another node holds every acked message");
    let after = a.send("after the crash").await;
    assert_eq!(c.next_message().await.id, after);
    for node in &cluster.nodes[..2] {
        assert_eq!(node.get(api::READY_PATH).await.status, StatusCode::OK);
    }
}

async fn presence_members_typing_and_direct_messages_work_across_nodes(backend: Backend) {
    let Some(cluster) = Cluster::start(backend, 2).await else { return };
    let (n0, n1) = (&cluster.nodes[0], &cluster.nodes[1]);
    let (ann, bob) = (n0.user("ann").await, n1.user("bob").await);
    let room = "everywhere";
    let mut a = n0.connect_user(&ann, Some(room)).await;
    let b = n1.connect_user(&bob, Some(room)).await;
    let presence = |who: &str, joined: bool| json!({"room": room, "username": who, "joined": joined});
    while a.next_event(events::CHAT_PRESENCE, WAIT).await != presence(&bob.username, true) {}
    let mut expected = vec![ann.username.clone(), bob.username.clone()];
    expected.sort();
    // Through the adapter, which a loaded test MongoDB may answer only at a second try.
    eventually("both members on both nodes", Duration::from_secs(15), || async {
        let from_a = a.emit_with_ack(events::CHAT_MEMBERS, json!(room), Duration::from_secs(10)).await;
        let from_b = b.emit_with_ack(events::CHAT_MEMBERS, json!(room), Duration::from_secs(10)).await;
        (from_a["members"] == json!(expected) && from_b["members"] == json!(expected)).then_some(())
    })
    .await;

    b.emit_with_ack(events::CHAT_TYPING, json!(room), WAIT).await;
    let typing = a.next_event(events::CHAT_TYPING, WAIT).await;
    assert_eq!(typing, json!({"room": room, "username": bob.username}));

    let ack =
        b.emit_with_ack(events::CHAT_DIRECT, json!({"to": ann.username, "message": "psst"}), WAIT).await;
    assert_eq!(ack["success"], json!(true), "{ack}");
    let direct = a.next_event(events::CHAT_DIRECT, WAIT).await;
    assert_eq!(
        (&direct["id"], &direct["to"], &direct["message"]),
        (&ack["id"], &json!(ann.username), &json!("psst"))
    );
    let history = a.emit_with_ack(events::CHAT_HISTORY, json!({"with": bob.username}), WAIT).await;
    assert_eq!(history["messages"][0]["id"], ack["id"]);

    b.disconnect().await;
    while a.next_event(events::CHAT_PRESENCE, WAIT).await != presence(&bob.username, false) {}
}

async fn a_client_resuming_on_another_node_after_a_kill_sees_every_message_once(backend: Backend) {
    let Some(mut cluster) = Cluster::start(backend, 3).await else { return };
    let (writer, reader) = (cluster.nodes[0].user("writer").await, cluster.nodes[1].user("reader").await);
    let room = "resume";
    let w = cluster.nodes[0].connect_user(&writer, Some(room)).await;
    let mut r = cluster.nodes[2].connect_user(&reader, Some(room)).await;
    let mut acked = Vec::new();
    for i in 0..20 {
        acked.push(w.send(&format!("before {i}")).await);
    }
    let before = collect(&mut r, acked.len(), Duration::from_secs(10)).await;
    let last_seen = before.last().expect("messages before the kill").id.clone();
    // The reader's node dies mid-stream; the writer goes on, as a busy room does.
    cluster.nodes[2].kill9();
    for i in 0..30 {
        acked.push(w.send(&format!("after {i}")).await);
    }
    // The client comes back on another node, naming the last message it has.
    let mut r = cluster.nodes[1]
        .connect_with(Some(json!({"token": reader.token, "after": last_seen})), &[("room", room)])
        .await
        .expect("resume on another node");
    let live = w.send("live").await;
    acked.push(live.clone());
    let mut seen: Vec<String> = before.iter().map(|m| m.id.clone()).collect();
    let mut overlap = 0;
    while seen.last() != Some(&live) {
        let m = r.next_message().await;
        if seen.contains(&m.id) {
            // Replayed from the few seconds before the resume point: the client drops it by id.
            overlap += 1;
            assert!(m.replayed && m.id <= last_seen, "a message after the resume point came twice: {m:?}");
            continue;
        }
        seen.push(m.id);
    }
    let first = acked.iter().position(|id| *id == seen[0]).expect("first message acked");
    assert_eq!(seen, acked[first..], "every acked message once, in order ({overlap} dropped by id)");
}

async fn history_then_live_has_no_gap_and_no_duplicate_while_other_nodes_write(backend: Backend) {
    const HISTORY: usize = 20;
    const ROOM: &str = "busy";
    let Some(cluster) = Cluster::start_with(backend, 3, &["--history", &HISTORY.to_string()]).await else {
        return;
    };
    // Node 0 carries an acked sender, node 2 a sender that never waits; observers join on 1 and 2.
    let (hammer, flood) = (cluster.nodes[0].user("hammer").await, cluster.nodes[2].user("flood").await);
    let mut watchers = Vec::new();
    for i in 0..6 {
        watchers.push(cluster.nodes[1].user(&format!("watcher{i}")).await);
    }
    let sender = cluster.nodes[0].connect_user(&hammer, Some(ROOM)).await;
    let flooder = cluster.nodes[2].connect_user(&flood, Some(ROOM)).await;
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers = {
        let (acked, stop) = (acked.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                flooder.emit(events::CHAT_MESSAGE, json!(format!("f{i}"))).await;
                let id = sender.send(&format!("m{i}")).await;
                acked.lock().unwrap_or_else(|p| p.into_inner()).push(id);
                i += 1;
            }
            (sender, flooder, i)
        })
    };
    let acked_ref = &*acked;
    let wait_for_acks = |n: usize| {
        eventually("the sender keeps getting acks", Duration::from_secs(20), move || async move {
            (acked_ref.lock().unwrap_or_else(|p| p.into_inner()).len() >= n).then_some(())
        })
    };
    wait_for_acks(HISTORY + 10).await;
    let mut observers = Vec::new();
    for (i, user) in watchers.iter().enumerate() {
        let node = &cluster.nodes[1 + i % 2];
        let observer = if i % 3 == 0 {
            let c = node.connect_user(user, None).await;
            assert_eq!(c.emit_with_ack(events::CHAT_JOIN, json!(ROOM), WAIT).await["success"], json!(true));
            c
        } else {
            node.connect_user(user, Some(ROOM)).await
        };
        observers.push(observer);
        let so_far = acked_ref.lock().unwrap_or_else(|p| p.into_inner()).len();
        wait_for_acks(so_far + 10).await;
    }
    stop.store(true, Ordering::Relaxed);
    let (sender, flooder, floods) = writers.await.expect("writers");
    let acked = acked.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let (last_acked, last_flood) = (acked.last().cloned().expect("acks"), format!("f{}", floods - 1));

    for (i, mut observer) in observers.into_iter().enumerate() {
        let (mut mine, mut floods_seen) = (Vec::new(), Vec::new());
        let (mut seen_last_acked, mut seen_last_flood) = (false, false);
        while !(seen_last_acked && seen_last_flood) {
            let m = observer.next_message().await;
            assert_eq!(m.room, ROOM);
            if m.message.starts_with('f') {
                seen_last_flood |= m.message == last_flood;
                floods_seen.push(m);
            } else {
                seen_last_acked |= m.id == last_acked;
                mine.push(m);
            }
        }
        let who = format!("observer {i} on node {}", 1 + i % 2);
        // The acked sender: the exact acked sequence from the first message seen on.
        let replayed_mine = mine.iter().filter(|m| m.replayed).count();
        assert_seamless(&who, &mine, &acked, replayed_mine);
        // The other sender: a contiguous run of its numbers, each once, replayed before live.
        let numbers: Vec<usize> = floods_seen.iter().map(|m| m.message[1..].parse().expect("f<n>")).collect();
        let first = numbers[0];
        let shown: Vec<String> = floods_seen
            .iter()
            .map(|m| format!("{}{}", m.message, if m.replayed { "r" } else { "" }))
            .collect();
        assert_eq!(
            numbers,
            (first..floods).collect::<Vec<_>>(),
            "{who}: the flood has a gap or a duplicate: {shown:?}"
        );
        let replayed = floods_seen.iter().take_while(|m| m.replayed).count();
        assert!(
            floods_seen[replayed..].iter().all(|m| !m.replayed),
            "{who}: a replayed flood message after a live one"
        );
        assert_eq!(replayed_mine + replayed, HISTORY, "{who}: the replay is the room's last --history");
        observer.expect_no_event(events::CHAT_MESSAGE, QUIET).await;
    }
    drop((sender, flooder));
}

/// Sends a probe from `from` every 100 ms until `to` receives one; the time that took.
async fn time_until_delivered(from: &SioClient, to: &mut SioClient, within: Duration) -> Duration {
    let started = Instant::now();
    let mut n = 0;
    loop {
        assert!(started.elapsed() < within, "no cross-node delivery within {within:?}");
        n += 1;
        from.emit(events::CHAT_MESSAGE, json!(format!("probe {n}"))).await;
        if let Some(args) = to.try_next_args(events::CHAT_MESSAGE, Duration::from_millis(100)).await
            && args[0]["message"].as_str().is_some_and(|m| m.starts_with("probe"))
        {
            return started.elapsed();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_local_delivery_goes_on_and_cross_node_delivery_resumes() {
    let Some(mut cluster) = Cluster::start(Backend::Redis, 2).await else { return };
    let (alice, bob) = (cluster.nodes[0].user("alice").await, cluster.nodes[1].user("bob").await);
    let mut a = cluster.nodes[0].connect_user(&alice, Some("outage")).await;
    let mut b = cluster.nodes[1].connect_user(&bob, Some("outage")).await;
    time_until_delivered(&a, &mut b, WAIT).await;

    let port = cluster.redis.take().expect("the cluster's Redis").kill();
    // While Redis is down each node still serves its own sockets, and says so once.
    for i in 0..5 {
        // The publish fails after the Redis command timeout (2 s), then goes out locally.
        let ack =
            a.emit_with_ack(events::CHAT_MESSAGE, json!(format!("local {i}")), Duration::from_secs(10)).await;
        assert_eq!(ack["success"], json!(true), "stored though Redis is down: {ack}");
        let id = ack["id"].as_str().expect("id").to_owned();
        let mut seen = a.next_message().await;
        while seen.message.starts_with("probe") {
            seen = a.next_message().await;
        }
        assert_eq!(seen.id, id, "the sender's own node still delivers");
    }
    let node0 = &cluster.nodes[0];
    let down = node0.get(api::READY_PATH).await;
    assert_eq!(
        (down.status, &down.body["adapter"]),
        (StatusCode::SERVICE_UNAVAILABLE, &json!("unavailable"))
    );
    assert_eq!(node0.get(api::HEALTH_PATH).await.status, StatusCode::OK, "alive while not ready");
    assert_eq!(
        node0.log_lines("adapter backend unreachable").len(),
        1,
        "logged once: {:?}",
        node0.log.lock().map(|l| l.clone())
    );

    cluster.redis = Some(OwnRedis::start_on(port));
    let resumed = time_until_delivered(&a, &mut b, Duration::from_secs(20)).await;
    eprintln!("cross-node delivery resumed {resumed:?} after Redis was back");
    for node in &cluster.nodes {
        eventually("readyz 200 again", WAIT, || async {
            (node.get(api::READY_PATH).await.status == StatusCode::OK).then_some(())
        })
        .await;
        assert_eq!(node.log_lines("adapter backend unreachable").len(), 1, "still logged once");
    }
    // Nothing stuck: a burst crosses again, whole.
    while b.try_next_args(events::CHAT_MESSAGE, QUIET).await.is_some() {}
    for i in 0..100 {
        a.emit(events::CHAT_MESSAGE, json!(format!("after {i}"))).await;
    }
    let got = collect(&mut b, 100, Duration::from_secs(10)).await;
    let texts: Vec<String> = got.into_iter().map(|m| m.message).filter(|m| m.starts_with("after")).collect();
    assert_eq!(texts, (0..100).map(|i| format!("after {i}")).collect::<Vec<_>>());
}

#[test]
fn an_adapter_without_a_shared_store_or_its_backend_stops_start_up_with_one_line() {
    for adapter in ["redis", "mongodb"] {
        let (status, stderr) = run_to_exit(
            tempfile::tempdir().expect("data dir").path(),
            &["--adapter", adapter, "--redis-url", "redis://127.0.0.1:1"],
        );
        assert!(!status.success(), "{adapter} on SQLite started");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(&format!("--adapter {adapter} needs a store all nodes share")), "{stderr}");
    }
    let (status, stderr) = run_to_exit(
        tempfile::tempdir().expect("data dir").path(),
        &["--adapter", "redis", "--database-url", "mongodb://127.0.0.1:1/x"],
    );
    assert!(!status.success());
    assert!(stderr.contains("--adapter redis needs --redis-url"), "{stderr}");
    let port = harness::mongo::free_port();
    let url = format!("redis://:secret-pw@127.0.0.1:{port}");
    let (status, stderr) = run_to_exit(
        tempfile::tempdir().expect("data dir").path(),
        &["--adapter", "redis", "--redis-url", &url, "--database-url", "mongodb://127.0.0.1:1/x"],
    );
    assert!(!status.success());
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("cannot reach Redis at redis://:***@127.0.0.1"), "{stderr}");
    assert!(!stderr.contains("secret-pw"), "the password is not shown: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_restart_local_delivery_goes_on_and_cross_node_delivery_resumes() {
    if !harness::mongo::own_servers_allowed() {
        return;
    }
    let (dir, port) = (tempfile::tempdir().expect("tempdir"), harness::mongo::free_port());
    let mongo = OwnServer::start(port, dir.path());
    let cluster =
        Cluster::start_on(Backend::Mongodb, 2, &mongo.url, None, &["--store-timeout-ms", "1500"]).await;
    let (alice, bob) = (cluster.nodes[0].user("alice").await, cluster.nodes[1].user("bob").await);
    let mut a = cluster.nodes[0].connect_user(&alice, Some("outage")).await;
    let mut b = cluster.nodes[1].connect_user(&bob, Some("outage")).await;
    time_until_delivered(&a, &mut b, WAIT).await;

    drop(mongo);
    // The store and the adapter are gone: each node still delivers to its own sockets, and
    // the acks say nothing was stored.
    while a.try_next_args(events::CHAT_MESSAGE, QUIET).await.is_some() {}
    for i in 0..3 {
        let text = format!("local {i}");
        let ack = a.emit_with_ack(events::CHAT_MESSAGE, json!(text), Duration::from_secs(10)).await;
        assert_eq!(ack["success"], json!(false), "{ack}");
        let mut seen = a.next_message().await;
        while seen.message != text {
            seen = a.next_message().await;
        }
    }
    let node0 = &cluster.nodes[0];
    let down = node0.get(api::READY_PATH).await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", down.body);
    assert_eq!(node0.log_lines("adapter backend unreachable").len(), 1, "logged once");

    let mongo = OwnServer::start(port, dir.path());
    let resumed = time_until_delivered(&a, &mut b, Duration::from_secs(30)).await;
    eprintln!("cross-node delivery resumed {resumed:?} after MongoDB was back");
    for node in &cluster.nodes {
        eventually("readyz 200 again", Duration::from_secs(10), || async {
            (node.get(api::READY_PATH).await.status == StatusCode::OK).then_some(())
        })
        .await;
    }
    drop(cluster);
    drop(mongo);
}
