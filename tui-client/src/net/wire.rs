//! Reading rust_socketio 0.6's payloads: what an ack, the CONNECT packet and an `Event::Error`
//! hold. The client's network task and the server's tests both read them this way.

use rust_socketio::Payload;
use serde_json::Value;
use shared::payload::ErrorEvent;

/// The text rust_socketio puts before a `connect_error` frame's JSON.
pub const CONNECT_ERROR_PREFIX: &str = "Received an ConnectError frame: ";

/// `[.. , ]` reduced to its first value; an ack's data arrives wrapped once more.
pub fn first_value(payload: &Payload) -> Option<&Value> {
    match payload {
        Payload::Text(values) => values.first(),
        _ => None,
    }
}

pub fn ack_value(payload: &Payload) -> Value {
    match first_value(payload) {
        Some(Value::Array(inner)) => inner.first().cloned().unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    }
}

/// Our socket id, from the CONNECT packet's `{sid}` (needs the patched crate, see vendor/).
pub fn socket_id(payload: &Payload) -> Option<String> {
    first_value(payload)?.get("sid")?.as_str().map(str::to_owned)
}

/// What an `Event::Error` of rust_socketio carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The handshake was refused with this message.
    Rejected(String),
    /// The server's `error` event.
    Server(String),
    /// Something below Socket.IO went wrong.
    Transport(String),
}

/// `Event::Error` carries three different things; tell them apart.
pub fn classify_error(payload: &Payload) -> ErrorKind {
    match first_value(payload) {
        Some(Value::String(text)) => match text.strip_prefix(CONNECT_ERROR_PREFIX) {
            Some(frame) => {
                let message = serde_json::from_str::<Value>(frame)
                    .ok()
                    .and_then(|v| match v {
                        Value::String(s) => Some(s),
                        v => v.get("message")?.as_str().map(str::to_owned),
                    })
                    .unwrap_or_else(|| frame.to_owned());
                ErrorKind::Rejected(message)
            }
            None => ErrorKind::Transport(text.clone()),
        },
        Some(v) => match serde_json::from_value::<ErrorEvent>(v.clone()) {
            Ok(e) => ErrorKind::Server(e.message),
            Err(_) => ErrorKind::Server(v.to_string()),
        },
        None => ErrorKind::Transport("unknown error".into()),
    }
}
