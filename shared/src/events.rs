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
/// Client → server with an ack: a page of a room's (or a direct conversation's) older
/// messages, [`crate::payload::HistoryQuery`] → [`crate::payload::PageAck`].
pub const CHAT_HISTORY: &str = "chat.history";
/// Client → server with an ack: full-text search in a room's history,
/// [`crate::payload::SearchQuery`] → [`crate::payload::PageAck`].
pub const CHAT_SEARCH: &str = "chat.search";
/// Client → server with an ack: who is in a room, on every node, `(room)` →
/// [`crate::payload::MembersAck`].
pub const CHAT_MEMBERS: &str = "chat.members";
/// Server → room: someone came or went ([`crate::payload::Presence`]); a person with several
/// sockets comes with the first and goes with the last.
pub const CHAT_PRESENCE: &str = "chat.presence";
/// Client → server `(room)`: the user is typing; server → the room's other sockets:
/// [`crate::payload::Typing`]. Never stored.
pub const CHAT_TYPING: &str = "chat.typing";
/// Client → server with an ack: a direct message, [`crate::payload::DirectRequest`] →
/// [`crate::payload::MessageAck`]; server → both people's sockets: a
/// [`crate::payload::ChatMessage`] with `to` set.
pub const CHAT_DIRECT: &str = "chat.direct";
/// Server → client, before a resumed room's replay: more was missed than the server replays
/// ([`crate::payload::Gap`]).
pub const CHAT_GAP: &str = "chat.gap";
