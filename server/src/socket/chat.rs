//! `chat.message`: validate, publish to the room, and ack once stored.

use std::sync::Arc;

use chrono::Utc;
use serde_json::Value;
use shared::{errors, payload::MessageAck};
use socketioxide::{
    SocketIo,
    extract::{AckSender, Extension, SocketRef, State, TryData},
};

use super::{Session, is_chat_room, send_error};
use crate::{
    state::AppState,
    store::{self, Message},
};

pub async fn on_chat_message(
    socket: SocketRef,
    io: SocketIo,
    TryData(data): TryData<Value>,
    ack: AckSender,
    State(state): State<AppState>,
    Extension(session): Extension<Arc<Session>>,
) {
    let reply = match send(&socket, &io, data.ok(), &state, &session).await {
        Ok(id) => MessageAck::stored(id),
        Err(error) => {
            tracing::debug!(sid = %socket.id, "chat.message refused: {error}");
            send_error(&socket, &error);
            MessageAck::failed(error)
        }
    };
    ack.send(&reply).ok();
}

/// Publishes one message and waits for its write; the id on success, the client's error text
/// otherwise.
async fn send(
    socket: &SocketRef,
    io: &SocketIo,
    data: Option<Value>,
    state: &AppState,
    session: &Session,
) -> Result<String, String> {
    if !session.allow_event() {
        return Err(errors::RATE_LIMITED.into());
    }
    let (room, text) = parse(data, &session.home_room)?;
    if text.trim().is_empty() {
        return Err(errors::MESSAGE_EMPTY.into());
    }
    let max = state.config.max_message_bytes;
    if text.len() > max {
        return Err(errors::message_too_long(max));
    }
    if !is_chat_room(&room) || !socket.rooms().iter().any(|r| *r == room) {
        return Err(errors::not_in_room(&room));
    }
    let message = Message {
        id: store::new_id(),
        username: session.username.clone(),
        message: text,
        room,
        sent: Utc::now(),
    };
    let id = message.id.clone();
    match state.history.publish(io, message).await.await {
        Ok(Ok(())) => Ok(id),
        Ok(Err(e)) => {
            tracing::warn!(sid = %socket.id, "message not stored: {e}");
            Err(errors::MESSAGE_NOT_STORED.into())
        }
        Err(_) => Err(errors::MESSAGE_NOT_STORED.into()),
    }
}

/// A bare string goes to the home room; `{room, message}` to the named room.
fn parse(data: Option<Value>, home_room: &str) -> Result<(String, String), String> {
    match data {
        Some(Value::String(text)) => Ok((home_room.to_string(), text)),
        Some(Value::Object(mut fields)) => match (fields.remove("room"), fields.remove("message")) {
            (Some(Value::String(room)), Some(Value::String(text))) => Ok((room, text)),
            _ => Err(errors::MESSAGE_INVALID.into()),
        },
        _ => Err(errors::MESSAGE_INVALID.into()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_both_shapes_and_refuses_the_rest() {
        assert_eq!(parse(Some(json!("hi")), "public"), Ok(("public".into(), "hi".into())));
        assert_eq!(parse(Some(json!({"room": "r", "message": "m"})), "public"), Ok(("r".into(), "m".into())));
        for bad in
            [json!(42), json!(null), json!(true), json!(["hi"]), json!({"message": 1}), json!({"room": "r"})]
        {
            assert_eq!(parse(Some(bad), "public"), Err(errors::MESSAGE_INVALID.to_string()));
        }
        assert_eq!(parse(None, "public"), Err(errors::MESSAGE_INVALID.to_string()));
    }
}
