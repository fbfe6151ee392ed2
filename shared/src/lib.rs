//! The chat protocol, spelled once: event names, payloads, HTTP bodies, error strings
//! and defaults shared by `chat-server` and `chat-tui`.
//!
//! No I/O lives here, so both sides (and their tests) can depend on it freely. The JSON
//! shapes are pinned by the tests at the bottom of each module: the classic Node backend
//! and its socket.io-client apps rely on them.

pub mod api;
pub mod defaults;
pub mod errors;
pub mod events;
pub mod inbound;
pub mod notices;
pub mod payload;
pub mod validate;
