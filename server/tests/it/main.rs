//! chat-server's integration tests, in one test binary: each binary links the whole server
//! (about 80 MB of debug build and a link step each), so one binary instead of thirteen keeps a
//! clean build small and fast. Run one part with a filter: `cargo test -p chat-server --test it
//! socket_chat::`. The cluster tests are a binary of their own (`tests/cluster`).

// Shared with tests/cluster, which uses the multi-node part of it.
#[allow(dead_code)]
mod harness;

mod common {
    pub mod conformance;
}

mod faults;
mod http_api;
mod mongo_server;
mod operations;
mod restart;
mod secrets;
mod slow_client;
mod socket_chat;
mod socket_features;
mod socket_rooms_history;
mod store_mongo;
mod store_sqlite;
