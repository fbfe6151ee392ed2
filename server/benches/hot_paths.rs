//! The hot paths of a chat message, so that regressions show (`cargo bench -p chat-server`):
//! encoding a room broadcast as Socket.IO sends it (once per broadcast, whatever the room's
//! size), appending to the SQLite store (one message, and the writer's batches) and reading a
//! room's recent history (what every join replays). End-to-end speed is chat-bench's job.

use std::{hint::black_box, sync::Arc, time::Duration};

use chat_server::store::{self, Message, Store};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use shared::{events, payload::ChatMessage};
use socketioxide_core::{packet::Packet, parser::Parse};
use socketioxide_parser_common::CommonParser;

fn message(room: &str, i: usize) -> Message {
    Message {
        id: store::new_id(),
        username: format!("user{}", i % 100),
        message: format!("message number {i}, about as long as a chat line usually is"),
        room: room.to_owned(),
        sent: chrono::Utc::now(),
        action: false,
    }
}

fn broadcast_encoding(c: &mut Criterion) {
    let payload = ChatMessage {
        username: "alice".into(),
        message: "hello everyone, this is a typical chat message of sixty-odd bytes".into(),
        room: "public".into(),
        sent: "2026-11-30T22:00:00.000Z".into(),
        id: store::new_id(),
        replayed: false,
        ..Default::default()
    };
    c.bench_function("broadcast: encode chat.message packet", |b| {
        b.iter(|| {
            let value =
                CommonParser.encode_value(black_box(&payload), Some(events::CHAT_MESSAGE)).expect("encodes");
            black_box(CommonParser.encode(Packet::event("/", value)))
        })
    });
}

fn store_paths(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> =
        runtime.block_on(store::open(None, dir.path(), Duration::from_secs(5))).expect("open SQLite");

    let mut group = c.benchmark_group("sqlite append");
    for batch in [1usize, 64] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("{batch} message(s) per batch"), |b| {
            b.to_async(&runtime).iter_batched(
                || (0..batch).map(|i| message("append", i)).collect::<Vec<_>>(),
                |messages| {
                    let store = store.clone();
                    async move { store.insert_messages(&messages).await.expect("stored") }
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();

    runtime.block_on(async {
        for chunk in (0..10_000).map(|i| message("history", i)).collect::<Vec<_>>().chunks(500) {
            store.insert_messages(chunk).await.expect("stored");
        }
    });
    c.bench_function("sqlite recent history: last 50 of 10 000", |b| {
        b.to_async(&runtime).iter(|| {
            let store = store.clone();
            async move { black_box(store.recent_messages("history", 50).await.expect("read")) }
        })
    });
}

criterion_group!(hot_paths, broadcast_encoding, store_paths);
criterion_main!(hot_paths);
