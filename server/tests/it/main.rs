//! chat-server's integration tests, in one test binary: each binary links the whole server
//! (about 80 MB of debug build and a link step each), so one binary instead of thirteen keeps a
//! clean build small and fast. Run one part with a filter: `cargo test -p chat-server --test it
//! cluster::`.

mod harness;

mod common {
    pub mod conformance;
}

mod cluster;
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
