//! What the UI and the network task say to each other: [`NetCommand`]s in, [`NetEvent`]s out.

use std::time::Duration;

use shared::payload::{ChatMessage, Gap, Page, Presence, SystemMessage, Typing, UserInfo};

use crate::auth::Token;

/// What the UI asks of the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetCommand {
    /// Goes to the handshake room as a bare string (the classic protocol), to other rooms as
    /// `{room, message}`, to a query window (`@bob`) as a direct message.
    SendMessage {
        local_id: u64,
        room: String,
        text: String,
        /// `/me`.
        action: bool,
    },
    /// Joins a room; after a reconnect, from the last message seen there (a resume).
    Join(String),
    /// `chat.typing`, sent without an ack (the app throttles it).
    Typing(String),
    /// `chat.members`: who is in a room.
    Members(String),
    /// `chat.history`: a page of a room's (or, for `@bob`, a direct conversation's) messages
    /// before `before` (`None`: the newest).
    History {
        window: String,
        before: Option<String>,
    },
    /// `chat.search` in a room.
    Search {
        room: String,
        query: String,
    },
    Leave(String),
    UserInfo {
        socket_id: String,
        own: bool,
    },
    /// Connect again with a new token (after a login).
    Reauth(Token),
    /// Connect again now (`/reconnect`), whatever the backoff says.
    Reconnect,
    Shutdown,
}

/// How a `chat.message` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckOutcome {
    /// Stored; the id matches the echo.
    Stored(Option<String>),
    Failed(String),
    /// No ack came (a classic server sends none, or the connection dropped meanwhile).
    NoAck,
}

/// What the network tells the UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    Connecting,
    /// `socket_id` is `None` only with an unpatched rust_socketio.
    Connected {
        socket_id: Option<String>,
    },
    /// The connection is down because of `reason`; attempt `attempt` follows after `delay`.
    Reconnecting {
        attempt: u32,
        delay: Duration,
        reason: String,
    },
    /// The server refused the handshake with this message; no retry until [`NetCommand::Reauth`].
    Rejected {
        message: String,
    },
    Message(ChatMessage),
    /// A `chat.message` without a username: the server's own notice (a join).
    Notice(SystemMessage),
    /// An `error` event from the server.
    ServerError(String),
    /// More was missed in a room than the server replays (after a resume).
    Gap(Gap),
    /// Someone came into or left a room.
    Presence(Presence),
    /// Someone is typing in a room.
    Typing(Typing),
    /// A direct message (`chat.direct`), ours or to us.
    Direct(ChatMessage),
    /// The answer to [`NetCommand::History`].
    History {
        window: String,
        result: Result<Page, String>,
    },
    /// The answer to [`NetCommand::Search`].
    SearchResults {
        room: String,
        query: String,
        result: Result<Page, String>,
    },
    /// The answer to [`NetCommand::Members`].
    Members {
        room: String,
        result: Result<Vec<String>, String>,
    },
    MessageAck {
        local_id: u64,
        outcome: AckOutcome,
    },
    Joined {
        room: String,
        result: Result<(), String>,
    },
    Left {
        room: String,
        result: Result<(), String>,
    },
    UserInfo {
        socket_id: String,
        own: bool,
        info: Option<UserInfo>,
    },
}
