//! Socket.IO payloads and acks.

use serde::{Deserialize, Serialize};

/// Server → room: one chat message, live or replayed from history.
///
/// The classic backend sent only `{username, message}`; the extra fields are ignored by
/// its clients and let ours order, deduplicate and date messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub username: String,
    pub message: String,
    #[serde(default)]
    pub room: String,
    /// RFC 3339 UTC with milliseconds, e.g. `2026-11-25T12:00:00.000Z`.
    #[serde(default)]
    pub sent: String,
    #[serde(default)]
    pub id: String,
    /// Set on history sent on connect and on `chat.join`, before live messages.
    #[serde(default, skip_serializing_if = "is_false")]
    pub replayed: bool,
    /// `/me`: an action, shown as `* alice waves`; a classic client shows the text as said.
    #[serde(default, skip_serializing_if = "is_false")]
    pub action: bool,
    /// Direct messages (`chat.direct`) only: the recipient's username; `room` is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Client → server `chat.message`: a bare string goes to the socket's handshake room
/// (chapter 13), `{room, message}` to a room the socket has joined (ours). The book's
/// chapter 15 form, two string arguments `(room, message)`, is not a single payload: the
/// server accepts it too, see the README's protocol section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OutgoingMessage {
    Text(String),
    ToRoom {
        room: String,
        message: String,
        /// `/me` (ours).
        #[serde(default, skip_serializing_if = "is_false")]
        action: bool,
    },
}

/// The one ack shape of our events: `{success: true, ...data}` or `{success: false, error}`.
///
/// `data`'s fields are flattened into the object, so `Ack<MessageStored>` is
/// `{success: true, id}` and `Ack<RoomDone>` is `{success: true, room}` (the shapes socketioxide's
/// basic-crud example calls `Response<T>`, kept flat because our clients already read them so).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack<T> {
    pub success: bool,
    #[serde(flatten, default = "Option::default")]
    pub data: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl<T> Ack<T> {
    pub fn done(data: T) -> Self {
        Self { success: true, data: Some(data), error: None }
    }
    pub fn failed(error: impl Into<String>) -> Self {
        Self { success: false, data: None, error: Some(error.into()) }
    }
    /// `Ok(data)` for a success, `Err(error)` otherwise (`refused` when the server gave no text).
    pub fn into_result(self) -> Result<Option<T>, String> {
        match self {
            Ack { success: true, data, .. } => Ok(data),
            Ack { error, .. } => Err(error.unwrap_or_else(|| "refused".into())),
        }
    }
}

/// What a successful `chat.message` ack carries: the stored message's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageStored {
    pub id: String,
}

/// What a successful `chat.join` / `chat.leave` ack carries: the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomDone {
    pub room: String,
}

/// Ack of `chat.message`: `success` only once the message is stored.
pub type MessageAck = Ack<MessageStored>;
/// Ack of `chat.join` and `chat.leave`.
pub type RoomAck = Ack<RoomDone>;

impl MessageAck {
    pub fn stored(id: impl Into<String>) -> Self {
        Self::done(MessageStored { id: id.into() })
    }
}

impl RoomAck {
    pub fn room(room: impl Into<String>) -> Self {
        Self::done(RoomDone { room: room.into() })
    }
}

/// Server → room `chat.message` without `username`: a notice from the server itself, such as
/// a join (chapter 15 of the book; its client renders a message without a username as a
/// system line). Never stored, never replayed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemMessage {
    pub message: String,
    #[serde(default)]
    pub room: String,
    /// RFC 3339 UTC with milliseconds, as in [`ChatMessage`].
    #[serde(default)]
    pub sent: String,
    /// Ours, on a join notice: who joined, so a client can show it its own way (or not at all).
    /// Not `username`, which would make the notice a chat message to the book's client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined: Option<String>,
    /// Ours, on the one notice that stands for several people joining within one notice
    /// window (see [`crate::notices::users_joined`]): all of them, in the order they came.
    #[serde(default, rename = "joinedMany", skip_serializing_if = "Vec::is_empty")]
    pub joined_many: Vec<String>,
}

impl SystemMessage {
    /// The notice chapter 15 sends when `username` joins `room`.
    pub fn joined(username: &str, room: &str, sent: String) -> Self {
        Self {
            message: crate::notices::user_joined(username, room),
            room: room.to_owned(),
            sent,
            joined: Some(username.to_owned()),
            joined_many: Vec::new(),
        }
    }

    /// The notice that several people, `usernames` (at least two, distinct), joined `room`.
    pub fn joined_many(usernames: Vec<String>, room: &str, sent: String) -> Self {
        Self {
            message: crate::notices::users_joined(&usernames, room),
            room: room.to_owned(),
            sent,
            joined: None,
            joined_many: usernames,
        }
    }
}

/// A `chat.message` as a client receives it: someone's message, or a server notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IncomingMessage {
    Chat(ChatMessage),
    System(SystemMessage),
}

/// Server → client `error` event: a handler refused or failed; the socket stays up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEvent {
    pub message: String,
}

/// Ack of `user.info`; the ack carries `null` when no such socket is connected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    #[serde(rename = "socketId")]
    pub socket_id: String,
    pub rooms: Vec<String>,
    pub user: UserSummary,
}

/// The public part of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    pub username: String,
}

/// Handshake `auth` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakeAuth {
    #[serde(default)]
    pub token: Option<String>,
    /// Ours: the id of the last message the client has from the handshake room. The server
    /// then replays what came after it instead of the last [`crate::defaults::HISTORY_LEN`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// `chat.join`'s object form (ours): join `room` and replay what came after message `after`
/// (a resume) instead of the room's last messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    pub room: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// Server → client before a resumed room's replay: the messages after `after` and before
/// `before` (both message ids, exclusive) were more than the server replays; they are in
/// history (`chat.history {room, before}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub room: String,
    pub after: String,
    pub before: String,
}

/// `chat.history`'s argument: the `limit` messages before message `before` (default: the
/// newest), of `room` or of the direct conversation `with` a user (exactly one of the two).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// 1 to [`crate::defaults::MAX_PAGE_LEN`]; default [`crate::defaults::PAGE_LEN`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// `chat.search`'s argument: messages of `room` (joined) that contain every word of `query`,
/// newest page first, `before` and `limit` as in [`HistoryQuery`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchQuery {
    pub room: String,
    pub query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// What `chat.history` and `chat.search` answer: `messages` oldest first (each `replayed`),
/// and whether older ones exist (`more`; ask again with `before` = `messages[0].id`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub messages: Vec<ChatMessage>,
    pub more: bool,
}

/// Ack of `chat.history` and `chat.search`: `{success: true, messages, more}`.
pub type PageAck = Ack<Page>;

/// What `chat.members` answers: the usernames of everyone in `room`, on every node, sorted,
/// each once however many sockets they have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Members {
    pub room: String,
    pub members: Vec<String>,
}

/// Ack of `chat.members`: `{success: true, room, members}`.
pub type MembersAck = Ack<Members>;

/// Server → room `chat.presence`: `username` came into `room` (`joined: true`: their first
/// socket there) or left it (`false`: their last socket there left or disconnected).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub room: String,
    pub username: String,
    pub joined: bool,
}

/// Server → a room's other sockets `chat.typing`: `username` is typing in `room`; it lasts
/// [`crate::defaults::TYPING_EXPIRES_SECS`] unless renewed or a message from them comes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Typing {
    pub room: String,
    pub username: String,
}

/// `chat.direct`'s argument: `message` for every socket of user `to` (and the sender's
/// own), stored in their conversation; `action` as in [`ChatMessage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectRequest {
    pub to: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub action: bool,
}

/// Data of a `connect_error` (what the auth middleware's rejection becomes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectError {
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> ChatMessage {
        ChatMessage {
            username: "ann".into(),
            message: "hi".into(),
            room: "public".into(),
            sent: "2026-11-25T12:00:00.000Z".into(),
            id: "65a1b2c3d4e5f60718293a4b".into(),
            ..ChatMessage::default()
        }
    }

    #[test]
    fn chat_message_shape_is_pinned() {
        let live = serde_json::to_value(sample()).unwrap();
        assert_eq!(
            live,
            json!({"username": "ann", "message": "hi", "room": "public",
                   "sent": "2026-11-25T12:00:00.000Z", "id": "65a1b2c3d4e5f60718293a4b"})
        );
        let replayed = serde_json::to_value(ChatMessage { replayed: true, ..sample() }).unwrap();
        assert_eq!(replayed["replayed"], json!(true));
        let back: ChatMessage = serde_json::from_value(replayed).unwrap();
        assert!(back.replayed);
        let direct = ChatMessage { action: true, to: Some("bob".into()), room: String::new(), ..sample() };
        let v = serde_json::to_value(&direct).unwrap();
        assert_eq!((&v["action"], &v["to"], &v["room"]), (&json!(true), &json!("bob"), &json!("")));
        assert_eq!(serde_json::from_value::<ChatMessage>(v).unwrap(), direct);
    }

    #[test]
    fn classic_two_field_message_still_parses() {
        let m: ChatMessage = serde_json::from_value(json!({"username": "bob", "message": "yo"})).unwrap();
        assert_eq!((m.username.as_str(), m.message.as_str(), m.replayed), ("bob", "yo", false));
    }

    #[test]
    fn outgoing_message_accepts_text_or_room() {
        assert_eq!(
            serde_json::from_value::<OutgoingMessage>(json!("hi")).unwrap(),
            OutgoingMessage::Text("hi".into())
        );
        assert_eq!(
            serde_json::from_value::<OutgoingMessage>(json!({"room": "r", "message": "m"})).unwrap(),
            OutgoingMessage::ToRoom { room: "r".into(), message: "m".into(), action: false }
        );
        assert_eq!(
            serde_json::to_value(OutgoingMessage::ToRoom {
                room: "r".into(),
                message: "m".into(),
                action: true
            })
            .unwrap(),
            json!({"room": "r", "message": "m", "action": true})
        );
        assert!(serde_json::from_value::<OutgoingMessage>(json!(42)).is_err());
        assert_eq!(serde_json::to_value(OutgoingMessage::Text("x".into())).unwrap(), json!("x"));
    }

    #[test]
    fn acks_have_exact_shapes() {
        assert_eq!(
            serde_json::to_value(MessageAck::stored("i1")).unwrap(),
            json!({"success": true, "id": "i1"})
        );
        assert_eq!(
            serde_json::to_value(MessageAck::failed("bad")).unwrap(),
            json!({"success": false, "error": "bad"})
        );
        assert_eq!(serde_json::to_value(RoomAck::room("r")).unwrap(), json!({"success": true, "room": "r"}));
        assert_eq!(
            serde_json::to_value(RoomAck::failed("no")).unwrap(),
            json!({"success": false, "error": "no"})
        );
        let back: MessageAck = serde_json::from_value(json!({"success": true, "id": "z"})).unwrap();
        assert_eq!(back, MessageAck::stored("z"));
        let failed: MessageAck = serde_json::from_value(json!({"success": false, "error": "e"})).unwrap();
        assert_eq!(failed.into_result(), Err("e".to_string()));
        let bare: RoomAck = serde_json::from_value(json!({"success": true})).unwrap();
        assert_eq!(bare.into_result(), Ok(None));
    }

    #[test]
    fn feature_payloads_have_exact_shapes() {
        let page = PageAck::done(Page { messages: vec![sample()], more: true });
        let v = serde_json::to_value(&page).unwrap();
        assert_eq!(v["success"], json!(true));
        assert_eq!(v["more"], json!(true));
        assert_eq!(v["messages"][0]["id"], json!("65a1b2c3d4e5f60718293a4b"));
        assert_eq!(serde_json::from_value::<PageAck>(v).unwrap(), page);
        assert_eq!(
            serde_json::to_value(MembersAck::done(Members { room: "r".into(), members: vec!["a".into()] }))
                .unwrap(),
            json!({"success": true, "room": "r", "members": ["a"]})
        );
        assert_eq!(
            serde_json::to_value(Presence { room: "r".into(), username: "a".into(), joined: false }).unwrap(),
            json!({"room": "r", "username": "a", "joined": false})
        );
        assert_eq!(
            serde_json::to_value(Gap { room: "r".into(), after: "1".into(), before: "2".into() }).unwrap(),
            json!({"room": "r", "after": "1", "before": "2"})
        );
        let auth: HandshakeAuth = serde_json::from_value(json!({"token": "t", "after": "i"})).unwrap();
        assert_eq!(auth.after.as_deref(), Some("i"));
    }

    #[test]
    fn user_info_uses_camel_case_socket_id() {
        let info = UserInfo {
            socket_id: "abc".into(),
            rooms: vec!["public".into()],
            user: UserSummary { username: "ann".into() },
        };
        let v = serde_json::to_value(&info).unwrap();
        assert_eq!(v, json!({"socketId": "abc", "rooms": ["public"], "user": {"username": "ann"}}));
        assert_eq!(serde_json::from_value::<UserInfo>(v).unwrap(), info);
        assert_eq!(serde_json::to_value(None::<UserInfo>).unwrap(), json!(null));
    }

    #[test]
    fn error_event_and_handshake_shapes() {
        assert_eq!(
            serde_json::to_value(ErrorEvent { message: "m".into() }).unwrap(),
            json!({"message": "m"})
        );
        let auth: HandshakeAuth = serde_json::from_value(json!({"token": "t"})).unwrap();
        assert_eq!(auth.token.as_deref(), Some("t"));
        let none: HandshakeAuth = serde_json::from_value(json!({})).unwrap();
        assert_eq!(none.token, None);
        let ce: ConnectError =
            serde_json::from_value(json!({"message": crate::errors::AUTH_INVALID_TOKEN})).unwrap();
        assert_eq!(ce.message, "Authentication failed: invalid token");
    }

    #[test]
    fn system_messages_have_no_username_and_clients_tell_them_apart() {
        let notice = SystemMessage::joined("alice", "dev", "2026-11-25T12:00:00.000Z".into());
        let v = serde_json::to_value(&notice).unwrap();
        assert_eq!(
            v,
            json!({"message": "User \"alice\" joined room \"dev\"", "room": "dev",
                   "sent": "2026-11-25T12:00:00.000Z", "joined": "alice"})
        );
        assert_eq!(serde_json::from_value::<IncomingMessage>(v).unwrap(), IncomingMessage::System(notice));
        let chat = serde_json::to_value(sample()).unwrap();
        assert_eq!(serde_json::from_value::<IncomingMessage>(chat).unwrap(), IncomingMessage::Chat(sample()));
        // Chapter 15's own server sends just {message, room}.
        let bare: IncomingMessage = serde_json::from_value(json!({"message": "m", "room": "r"})).unwrap();
        assert!(matches!(bare, IncomingMessage::System(SystemMessage { ref room, .. }) if room == "r"));
    }
}
