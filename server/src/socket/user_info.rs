//! `user.info (socketId)`: who is behind a socket id, answered through the adapter's room
//! index (see the module docs of [`super`]) rather than this node's socket table.

use serde_json::Value;
use shared::payload::{UserInfo, UserSummary};
use socketioxide::{
    SocketIo,
    extract::{AckSender, SocketRef},
};

use super::{SID_ROOM_PREFIX, USER_ROOM_PREFIX, is_chat_room, send_error};
use crate::{state::AppState, store::StoreError};

/// Socket ids are 16 characters; anything much longer is not worth a lookup.
const MAX_SOCKET_ID_LEN: usize = 64;

/// Looks up in a task of its own: a read need not hold up the socket's later events.
pub fn on_user_info(
    socket: &SocketRef,
    io: &SocketIo,
    state: &AppState,
    data: Option<Value>,
    ack: AckSender,
) {
    let (socket, io, state) = (socket.clone(), io.clone(), state.clone());
    tokio::spawn(async move {
        let info = match data {
            Some(Value::String(sid)) if sid.len() <= MAX_SOCKET_ID_LEN => lookup(&io, &state, &sid).await,
            _ => Ok(None),
        };
        let info = info.unwrap_or_else(|e| {
            tracing::warn!(sid = %socket.id, "user.info failed: {e}");
            send_error(&socket, shared::errors::SERVICE_UNAVAILABLE);
            None
        });
        ack.send(&info).ok();
    });
}

async fn lookup(io: &SocketIo, state: &AppState, sid: &str) -> Result<Option<UserInfo>, StoreError> {
    let Ok(rooms) = io.within(format!("{SID_ROOM_PREFIX}{sid}")).rooms().await;
    let Some(user_id) = rooms.iter().find_map(|r| r.strip_prefix(USER_ROOM_PREFIX)) else {
        return Ok(None);
    };
    let Some(user) = state.store.user_by_id(user_id).await? else { return Ok(None) };
    let mut rooms: Vec<String> = rooms.iter().filter(|r| is_chat_room(r)).map(|r| r.to_string()).collect();
    rooms.sort();
    Ok(Some(UserInfo { socket_id: sid.to_string(), rooms, user: UserSummary { username: user.username } }))
}
