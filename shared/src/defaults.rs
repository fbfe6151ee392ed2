//! Defaults both sides agree on, and chat-server's socket settings that chat-bench's
//! socketioxide baseline runs with too.

/// Port `chat-server` listens on and `chat-tui` connects to.
pub const PORT: u16 = 3001;
/// Room a socket joins when the handshake names none.
pub const ROOM: &str = "public";
/// Server URL `chat-tui` uses when none is given.
pub const SERVER_URL: &str = "http://localhost:3001";
/// Messages replayed on connect and on `chat.join`.
pub const HISTORY_LEN: usize = 50;
/// Largest message text, in bytes of UTF-8.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Largest Engine.IO packet a server takes before it closes the connection, in bytes: socket.io's
/// own `maxHttpBufferSize` (1e6), so every message an official client sends gets an answer.
pub const MAX_FRAME_BYTES: usize = 1_000_000;
/// Longest login token a server reads, in bytes; longer ones are refused as invalid unread.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Query-string key that carries the room in the Socket.IO handshake.
pub const ROOM_QUERY_KEY: &str = "room";
/// Messages in a `chat.history` or `chat.search` page when the request names no limit.
pub const PAGE_LEN: usize = 50;
/// Most messages in one `chat.history` or `chat.search` page.
pub const MAX_PAGE_LEN: usize = 200;
/// Most missed messages a resumed join replays; past that the client gets a `chat.gap` and the
/// newest [`HISTORY_LEN`], and pages back for the rest.
pub const RESUME_LEN: usize = 500;
/// How long a typing indicator lasts unless renewed, in seconds.
pub const TYPING_EXPIRES_SECS: u64 = 6;
/// A client sends `chat.typing` for one room at most this often, in seconds (the server drops
/// faster ones).
pub const TYPING_EVERY_SECS: u64 = 3;
/// Packets queued per socket before the server counts it as too slow (`--socket-buffer`).
pub const SOCKET_BUFFER: usize = 4096;
/// Least milliseconds between two writes to one websocket (`--write-delay-ms`).
pub const WRITE_DELAY_MS: u64 = 5;
/// What a server's websocket reads at a time, and keeps allocated per socket while idle
/// (engineioxide asks for 4 KiB). A frame longer than this still arrives in one read:
/// tungstenite reserves a frame's whole length once its header is in. Chat frames are a few
/// hundred bytes.
pub const WS_READ_BUFFER: usize = 1024;
