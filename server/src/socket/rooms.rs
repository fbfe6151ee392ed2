//! `chat.join` and `chat.leave`, and entering a room (on connect and on join).

use chrono::Utc;
use serde_json::{Value, json};
use shared::{
    errors, events,
    payload::{RoomAck, SystemMessage},
};
use socketioxide::adapter::Adapter;

use super::{
    chat_rooms,
    event::{Answer, ClientEvent, Cx, FromArgs},
    history::Resume,
    presence, send_error,
};

/// `chat.join (room)` or `chat.join ({room, after})` (a resume): with or without an ack
/// (chapter 15 sends none).
pub struct Join;
/// `chat.leave (room)`.
pub struct Leave;

/// One validated room name, in its normal form (NFC).
pub struct RoomArg(String);

impl FromArgs for RoomArg {
    fn from_args(args: Vec<Value>) -> Result<Self, String> {
        shared::inbound::room_arg(args).map(RoomArg)
    }
}

/// `chat.join`'s argument: the room, and the last message the client has from it.
pub struct JoinArg(String, Option<String>);

impl FromArgs for JoinArg {
    fn from_args(args: Vec<Value>) -> Result<Self, String> {
        shared::inbound::join_arg(args).map(|(room, after)| JoinArg(room, after))
    }
}

impl ClientEvent for Join {
    const NAME: &'static str = events::CHAT_JOIN;
    type Args = JoinArg;
    type Ack = RoomAck;

    async fn handle<A: Adapter>(cx: &Cx<A>, JoinArg(room, after): JoinArg) -> Answer<RoomAck> {
        let joined = chat_rooms(&cx.socket);
        if joined.contains(&room) {
            // Already in: no second replay, which would duplicate what the client has.
            return Ok(RoomAck::room(room)).into();
        }
        if joined.len() >= cx.state.config.max_rooms_per_socket {
            return Err(errors::TOO_MANY_ROOMS.to_string()).into();
        }
        enter(cx, &room, after.as_deref().map_or(Resume::Recent, Resume::After)).await;
        Ok(RoomAck::room(room)).into()
    }
}

impl ClientEvent for Leave {
    const NAME: &'static str = events::CHAT_LEAVE;
    type Args = RoomArg;
    type Ack = RoomAck;

    async fn handle<A: Adapter>(cx: &Cx<A>, RoomArg(room): RoomArg) -> Answer<RoomAck> {
        if !chat_rooms(&cx.socket).contains(&room) {
            return Err(errors::not_in_room(&room)).into();
        }
        cx.socket.leave(room.clone());
        presence::left(
            &cx.io,
            &cx.state.tasks,
            &cx.session.user_id,
            &cx.session.username,
            vec![room.clone()],
        );
        if let Some(admin) = &cx.session.admin {
            admin.live("room_left", || {
                vec![json!("/"), json!(room), json!(cx.socket.id.to_string()), crate::admin::now()]
            });
        }
        Ok(RoomAck::room(room)).into()
    }
}

/// Joins `room`, replays its history to the socket as `resume` says, then tells the room (the
/// socket included) that the user joined, as chapter 15's backend does (not for a recovered
/// session, which never left as far as its client knows, nor under `--no-join-notices`), and
/// with `chat.presence` if it is the user's first socket there.
///
/// A history that cannot be read does not stop the join: the client gets an `error` event and
/// live messages from then on.
pub async fn enter<A: Adapter>(cx: &Cx<A>, room: &str, resume: Resume<'_>) {
    if let Err(e) = cx.state.history.join(&cx.socket, room, resume).await {
        tracing::warn!(sid = %cx.socket.id, room, "history replay failed: {e}");
        send_error(&cx.socket, errors::SERVICE_UNAVAILABLE);
    }
    if !matches!(resume, Resume::Recovered(_)) && !cx.state.config.no_join_notices {
        let sent = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let notice = SystemMessage::joined(&cx.session.username, room, sent);
        cx.state.history.notice(&cx.io, room, notice).await;
    }
    presence::joined(cx, room);
    if let Some(admin) = &cx.session.admin {
        admin.live("room_joined", || {
            vec![json!("/"), json!(room), json!(cx.socket.id.to_string()), crate::admin::now()]
        });
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_join_names_a_room_and_maybe_where_to_resume() {
        let JoinArg(room, after) =
            JoinArg::from_args(vec![json!({"room": "dev", "after": "65a1b2c3d4e5f60718293a4b"})])
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((room.as_str(), after.as_deref()), ("dev", Some("65a1b2c3d4e5f60718293a4b")));
        assert!(JoinArg::from_args(vec![json!(["dev"])]).is_err());
    }

    #[test]
    fn a_room_argument_is_one_valid_name() {
        assert_eq!(RoomArg::from_args(vec![json!("dev")]).map(|r| r.0), Ok("dev".to_string()));
        for bad in [vec![], vec![json!(1)], vec![json!("a"), json!("b")], vec![json!(["dev"])]] {
            assert_eq!(RoomArg::from_args(bad).map(|r| r.0), Err(errors::ROOM_INVALID_PAYLOAD.to_string()));
        }
        assert!(RoomArg::from_args(vec![json!("sid:x")]).is_err());
    }
}
