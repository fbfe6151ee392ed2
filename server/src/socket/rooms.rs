//! `chat.join` and `chat.leave`.

use serde_json::Value;
use shared::{errors, payload::RoomAck};
use socketioxide::extract::{AckSender, SocketRef};

use super::{Kind, chat_rooms, refuse, send_error};
use crate::state::AppState;

pub async fn on_join(socket: &SocketRef, state: &AppState, data: Option<Value>, ack: AckSender) {
    let result = async {
        let room = room_arg(data)?;
        let joined = chat_rooms(socket);
        if joined.contains(&room) {
            // Already in: no second replay, which would duplicate what the client has.
            return Ok(room);
        }
        if joined.len() >= state.config.max_rooms_per_socket {
            return Err(errors::TOO_MANY_ROOMS.to_string());
        }
        if let Err(e) = state.history.join(socket, &room).await {
            // Joined, but without history: say so and carry on with live messages.
            tracing::warn!(sid = %socket.id, room, "history replay failed: {e}");
            send_error(socket, errors::SERVICE_UNAVAILABLE);
        }
        Ok(room)
    }
    .await;
    reply(socket, Kind::Join, ack, result);
}

pub fn on_leave(socket: &SocketRef, data: Option<Value>, ack: AckSender) {
    let result = room_arg(data).and_then(|room| {
        if !chat_rooms(socket).contains(&room) {
            return Err(errors::not_in_room(&room));
        }
        socket.leave(room.clone());
        Ok(room)
    });
    reply(socket, Kind::Leave, ack, result);
}

/// The validated room name of a join or leave.
fn room_arg(data: Option<Value>) -> Result<String, String> {
    let Some(Value::String(room)) = data else { return Err(errors::ROOM_INVALID_PAYLOAD.into()) };
    shared::validate::room(&room)?;
    Ok(room)
}

fn reply(socket: &SocketRef, kind: Kind, ack: AckSender, result: Result<String, String>) {
    match result {
        Ok(room) => {
            ack.send(&RoomAck::done(room)).ok();
        }
        Err(error) => refuse(socket, kind, ack, &error),
    }
}
