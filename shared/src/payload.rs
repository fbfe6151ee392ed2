//! Socket.IO payloads and acks.

use serde::{Deserialize, Serialize};

/// Server → room: one chat message, live or replayed from history.
///
/// The classic backend sent only `{username, message}`; the extra fields are ignored by
/// its clients and let ours order, deduplicate and date messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Client → server `chat.message`: a bare string goes to the socket's handshake room,
/// `{room, message}` to a room the socket has joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OutgoingMessage {
    Text(String),
    ToRoom { room: String, message: String },
}

/// Ack of `chat.message`: `success` only once the message is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageAck {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl MessageAck {
    pub fn stored(id: impl Into<String>) -> Self {
        Self { success: true, id: Some(id.into()), error: None }
    }
    pub fn failed(error: impl Into<String>) -> Self {
        Self { success: false, id: None, error: Some(error.into()) }
    }
}

/// Ack of `chat.join` and `chat.leave`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomAck {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RoomAck {
    pub fn done(room: impl Into<String>) -> Self {
        Self { success: true, room: Some(room.into()), error: None }
    }
    pub fn failed(error: impl Into<String>) -> Self {
        Self { success: false, room: None, error: Some(error.into()) }
    }
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
            replayed: false,
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
            OutgoingMessage::ToRoom { room: "r".into(), message: "m".into() }
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
        assert_eq!(serde_json::to_value(RoomAck::done("r")).unwrap(), json!({"success": true, "room": "r"}));
        assert_eq!(
            serde_json::to_value(RoomAck::failed("no")).unwrap(),
            json!({"success": false, "error": "no"})
        );
        let back: MessageAck = serde_json::from_value(json!({"success": true, "id": "z"})).unwrap();
        assert_eq!(back, MessageAck::stored("z"));
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
}
