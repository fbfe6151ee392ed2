//! Socket.IO event names.

/// Client → server: send a message; server → room: a message was sent (or replayed).
pub const CHAT_MESSAGE: &str = "chat.message";
/// Client → server with an ack: who is behind a socket id.
pub const USER_INFO: &str = "user.info";
/// Client → server with an ack: join another room (history is replayed first).
pub const CHAT_JOIN: &str = "chat.join";
/// Client → server with an ack: leave a room.
pub const CHAT_LEAVE: &str = "chat.leave";
/// Server → client: a handler failed; carries [`crate::payload::ErrorEvent`].
pub const ERROR: &str = "error";
/// Server → client, only after a broadcast found a full send buffer: a payload-less probe
/// that tells the server which sockets cannot take more (clients ignore it).
pub const PROBE: &str = "chat.probe";
