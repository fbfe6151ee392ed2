//! `user.info (socketId)`: who is behind a socket id, answered through the adapter (the rooms
//! of that one socket, on whichever node it is; see the module docs of [`super`]) rather than
//! this node's socket table.

use serde_json::Value;
use shared::{
    errors, events,
    payload::{UserInfo, UserSummary},
};
use socketioxide::{SocketIo, adapter::Adapter, socket::Sid};

use super::{
    USER_ROOM_PREFIX,
    event::{Acked, Answer, ClientEvent, Cx, FromArgs},
    is_chat_room,
};
use crate::{state::AppState, store::StoreError};

/// `user.info`: its ack is `null` for an unknown socket (and for a refusal).
pub struct Lookup;

/// The socket id asked about; `None` when too long to name any.
pub struct SocketIdArg(Option<String>);

impl FromArgs for SocketIdArg {
    fn from_args(args: Vec<Value>) -> Result<Self, String> {
        shared::inbound::socket_id_arg(args).map(SocketIdArg)
    }
}

impl Acked for Option<UserInfo> {
    fn refused(_: &str) -> Self {
        None
    }
}

impl ClientEvent for Lookup {
    const NAME: &'static str = events::USER_INFO;
    type Args = SocketIdArg;
    type Ack = Option<UserInfo>;

    /// Looks up off the socket's queue: a read need not hold up the socket's later events.
    async fn handle<A: Adapter>(cx: &Cx<A>, SocketIdArg(sid): SocketIdArg) -> Answer<Option<UserInfo>> {
        let Some(sid) = sid else { return Ok(None).into() };
        let (io, state, asker) = (cx.io.clone(), cx.state.clone(), cx.socket.id);
        Answer::Later(Box::pin(async move {
            lookup(&io, &state, &sid).await.map_err(|e| {
                tracing::warn!(sid = %asker, "user.info failed: {e}");
                errors::SERVICE_UNAVAILABLE.to_string()
            })
        }))
    }
}

/// Why a lookup failed: the adapter (other nodes) or the store could not answer.
#[derive(Debug, thiserror::Error)]
enum LookupError {
    #[error("adapter: {0}")]
    Adapter(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

async fn lookup<A: Adapter>(
    io: &SocketIo<A>,
    state: &AppState,
    sid: &str,
) -> Result<Option<UserInfo>, LookupError> {
    // No socket has an id that does not parse.
    let Ok(id) = sid.parse::<Sid>() else { return Ok(None) };
    let rooms =
        io.broadcast().to_socket(id).rooms().await.map_err(|e| LookupError::Adapter(e.to_string()))?;
    let Some(user_id) = rooms.iter().find_map(|r| r.strip_prefix(USER_ROOM_PREFIX)) else {
        return Ok(None);
    };
    let Some(user) = state.store.user_by_id(user_id).await? else { return Ok(None) };
    let mut rooms: Vec<String> = rooms.iter().filter(|r| is_chat_room(r)).map(|r| r.to_string()).collect();
    rooms.sort();
    Ok(Some(UserInfo { socket_id: sid.to_string(), rooms, user: UserSummary { username: user.username } }))
}
