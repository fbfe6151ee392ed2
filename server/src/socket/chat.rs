//! `chat.message`: validate, publish to the room, and ack once stored.

use chrono::Utc;
use serde_json::Value;
use shared::{errors, payload::MessageAck};
use socketioxide::{
    SocketIo,
    extract::{AckSender, SocketRef},
};

use super::{Kind, Session, is_chat_room};
use crate::{
    state::AppState,
    store::{self, Message, writer::Stored},
};

/// Validates and publishes one message in the socket's order, then waits for its write in a
/// task of its own, so the next event need not wait for the store.
pub async fn on_chat_message(
    socket: &SocketRef,
    io: &SocketIo,
    state: &AppState,
    session: &Session,
    data: Option<Value>,
    ack: AckSender,
) {
    let stored = match publish(socket, io, state, session, data).await {
        Ok(stored) => stored,
        Err(error) => return refuse(socket, ack, &error),
    };
    let (socket, history) = (socket.clone(), state.history.clone());
    tokio::spawn(async move {
        let (id, room, stored) = stored;
        match history.confirm(&room, stored).await {
            Ok(()) => {
                ack.send(&MessageAck::stored(id)).ok();
            }
            Err(e) => {
                tracing::warn!(sid = %socket.id, "message not stored: {e}");
                refuse(&socket, ack, errors::MESSAGE_NOT_STORED);
            }
        }
    });
}

fn refuse(socket: &SocketRef, ack: AckSender, error: &str) {
    super::refuse(socket, Kind::ChatMessage, ack, error);
}

/// Checks one message and publishes it; its id, its room and the receiver of its write, or
/// the client's error text.
async fn publish(
    socket: &SocketRef,
    io: &SocketIo,
    state: &AppState,
    session: &Session,
    data: Option<Value>,
) -> Result<(String, String, Stored), String> {
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
    let (id, room) = (message.id.clone(), message.room.clone());
    Ok((id, room, state.history.publish(io, message).await))
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
