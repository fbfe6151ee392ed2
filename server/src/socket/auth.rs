//! The connect middleware: a socket gets in only with a valid token for an existing user,
//! a valid room and a free connection slot for its address.

use std::sync::Arc;

use serde_json::Value;
use shared::{defaults, errors};
use socketioxide::{
    adapter::Adapter,
    extract::{SocketRef, State, TryData},
};

use super::{Session, join_own_rooms, register_handlers};
use crate::{client_addr::ClientAddr, state::AppState, store::StoreError, telemetry};

/// Why a handshake was refused; the `Display` text is what the client's `connect_error` gets.
#[derive(Debug, thiserror::Error)]
pub enum ConnectRejection {
    #[error("{}", errors::AUTH_NO_TOKEN)]
    NoToken,
    #[error("{}", errors::AUTH_INVALID_TOKEN)]
    InvalidToken,
    #[error("{0}")]
    InvalidRoom(String),
    #[error("{}", errors::TOO_MANY_CONNECTIONS)]
    TooManyConnections,
    #[error("{}", errors::SERVICE_UNAVAILABLE)]
    Unavailable,
}

pub async fn authenticate<A: Adapter>(
    socket: SocketRef<A>,
    TryData(auth): TryData<Value>,
    State(state): State<AppState>,
) -> Result<(), ConnectRejection> {
    let result = check(&socket, auth.ok(), &state).await;
    match &result {
        Ok(()) => {
            telemetry::count_one(telemetry::CONNECTS);
            telemetry::sockets(1.0);
            if let Some(admin) = &state.admin {
                admin.count("rawConnection", None);
            }
        }
        Err(rejection) => {
            tracing::info!(sid = %socket.id, "connection refused: {rejection}");
            let reason = match rejection {
                ConnectRejection::NoToken => "no_token",
                ConnectRejection::InvalidToken => "invalid_token",
                ConnectRejection::InvalidRoom(_) => "invalid_room",
                ConnectRejection::TooManyConnections => "too_many_connections",
                ConnectRejection::Unavailable => "unavailable",
            };
            telemetry::count(telemetry::HANDSHAKE_REFUSALS, "reason", reason);
            if let ConnectRejection::TooManyConnections = rejection {
                telemetry::count(telemetry::RATE_LIMITED, "kind", "connections");
            }
        }
    }
    result
}

async fn check<A: Adapter>(
    socket: &SocketRef<A>,
    auth: Option<Value>,
    state: &AppState,
) -> Result<(), ConnectRejection> {
    let token = match auth.as_ref().and_then(|a| a.get("token")) {
        None | Some(Value::Null) => return Err(ConnectRejection::NoToken),
        Some(Value::String(t)) if t.is_empty() => return Err(ConnectRejection::NoToken),
        Some(Value::String(t)) => t,
        Some(_) => return Err(ConnectRejection::InvalidToken),
    };
    let user_id = state.tokens.verify(token).ok_or(ConnectRejection::InvalidToken)?;
    let user = match state.store.user_by_id(&user_id).await {
        Ok(Some(user)) => user,
        Ok(None) => return Err(ConnectRejection::InvalidToken),
        Err(StoreError::Unavailable(e)) | Err(StoreError::Backend(e)) => {
            tracing::error!("user lookup failed during handshake: {e}");
            return Err(ConnectRejection::Unavailable);
        }
        Err(StoreError::UsernameTaken) => return Err(ConnectRejection::Unavailable),
    };
    let home_room = room_from_query(socket.req_parts().uri.query());
    let home_room = shared::validate::room(&home_room).map_err(ConnectRejection::InvalidRoom)?;
    // A resume point that is no message id is ignored: the client gets the usual replay.
    let after = match auth.as_ref().and_then(|a| a.get("after")) {
        Some(Value::String(id)) => shared::inbound::message_id(id).ok(),
        _ => None,
    };

    let addr = socket.req_parts().extensions.get::<ClientAddr>().map(|c| c.0);
    let slot = match addr {
        Some(addr) => Some(state.limits.open_connection(addr).ok_or(ConnectRejection::TooManyConnections)?),
        None => None,
    };
    let recovery = super::recovery::handshake(socket, state, &user.id, auth.as_ref()).await;
    let session = Arc::new(Session::<A>::new(user, (home_room, after), recovery, addr, (state, slot)));
    join_own_rooms(socket, &session);
    socket.extensions.insert(session);
    register_handlers(socket);
    Ok(())
}

/// The `room` query parameter of the handshake, or the default room.
fn room_from_query(query: Option<&str>) -> String {
    query
        .and_then(|q| {
            form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == defaults::ROOM_QUERY_KEY).map(|(_, v)| v)
        })
        .map(|v| v.into_owned())
        .unwrap_or_else(|| defaults::ROOM.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_comes_from_the_query_or_defaults() {
        assert_eq!(room_from_query(None), "public");
        assert_eq!(room_from_query(Some("EIO=4&transport=websocket")), "public");
        assert_eq!(room_from_query(Some("EIO=4&room=test&transport=polling")), "test");
        assert_eq!(room_from_query(Some("room=%E8%81%8A%E5%A4%A9")), "聊天");
        assert_eq!(room_from_query(Some("room=")), "");
    }
}
