//! Who is where: `chat.members`, `chat.presence` and `chat.typing`, across nodes.
//!
//! Every socket is also in `name:<username>`, so the usernames in a room are the `name:` rooms
//! of the sockets in it: one adapter request (`rooms()` of the room's sockets on every node),
//! each person once however many sockets they have. Whether a person is in a room is a count of
//! their `user:<id>` sockets, with and without those in the room: two adapter requests that
//! touch socket ids only.

use std::{
    collections::BTreeSet,
    sync::Mutex,
    time::{Duration, Instant},
};

use serde_json::Value;
use shared::{
    defaults, errors, events,
    payload::{Members, MembersAck, Presence, RoomAck, Typing},
};
use socketioxide::{SocketIo, adapter::Adapter, operators::BroadcastOperators};
use tokio_util::task::TaskTracker;

use super::{
    USER_ROOM_PREFIX, chat_rooms,
    event::{Answer, ClientEvent, Cx, FromArgs},
    history,
};

/// Prefix of the room that names a socket's user by username (see the module docs).
pub const NAME_ROOM_PREFIX: &str = "name:";
/// The server passes on one `chat.typing` per socket and room this often at most: half the
/// clients' own interval, so a client that keeps to it is never cut.
const TYPING_MIN_INTERVAL: Duration = Duration::from_millis(defaults::TYPING_EVERY_SECS * 500);

/// `chat.members (room)` → `{success, room, members}`.
pub struct ListMembers;
/// `chat.typing (room)`: passed on to the room's other sockets, throttled, never stored.
pub struct StartTyping;

/// A room named by a string or `{room}`, in its normal form.
pub struct RoomRef(String);

impl FromArgs for RoomRef {
    fn from_args(args: Vec<Value>) -> Result<Self, String> {
        shared::inbound::room_or_object_arg(args).map(RoomRef)
    }
}

impl ClientEvent for ListMembers {
    const NAME: &'static str = events::CHAT_MEMBERS;
    type Args = RoomRef;
    type Ack = MembersAck;

    async fn handle<A: Adapter>(cx: &Cx<A>, RoomRef(room): RoomRef) -> Answer<MembersAck> {
        let io = cx.io.clone();
        Answer::Later(Box::pin(async move {
            let rooms = io.to(room.clone()).rooms().await.map_err(|e| {
                tracing::warn!(room, "chat.members failed: {e}");
                errors::SERVICE_UNAVAILABLE.to_string()
            })?;
            let members: BTreeSet<String> =
                rooms.iter().filter_map(|r| r.strip_prefix(NAME_ROOM_PREFIX)).map(str::to_owned).collect();
            Ok(MembersAck::done(Members { room, members: members.into_iter().collect() }))
        }))
    }
}

impl ClientEvent for StartTyping {
    const NAME: &'static str = events::CHAT_TYPING;
    type Args = RoomRef;
    type Ack = RoomAck;

    async fn handle<A: Adapter>(cx: &Cx<A>, RoomRef(room): RoomRef) -> Answer<RoomAck> {
        if !chat_rooms(&cx.socket).contains(&room) {
            return Err(errors::not_in_room(&room)).into();
        }
        if cx.session.typing.allow(&room) {
            let typing = Typing { room: room.clone(), username: cx.session.username.clone() };
            if let Err(e) = cx.socket.to(room.clone()).emit(events::CHAT_TYPING, &typing).await {
                tracing::debug!(room, "chat.typing not passed on: {e}");
            }
        }
        Ok(RoomAck::room(room)).into()
    }
}

/// When each room last passed on this socket's `chat.typing`: a list, as a socket types in a
/// room or two at a time (a map took 24 bytes more of every socket's session).
#[derive(Default)]
pub struct TypingThrottle(Mutex<Vec<(String, Instant)>>);

impl TypingThrottle {
    /// `true` (and noted) when `room` may get another `chat.typing` from this socket now.
    fn allow(&self, room: &str) -> bool {
        let now = Instant::now();
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // Only recent entries matter: this keeps the list as small as the rooms typed in lately.
        last.retain(|(_, at)| now.duration_since(*at) < TYPING_MIN_INTERVAL);
        if last.iter().any(|(typed, _)| typed == room) {
            return false;
        }
        last.push((room.to_owned(), now));
        true
    }
}

/// After the socket of `cx` joined `room`: tells the room its user came, unless another of
/// their sockets was there already.
///
/// Runs in a task of its own: on several nodes the check is a request to every node, which a
/// slow node can hold up for the adapter's request timeout, and the join must not wait for it.
/// Two sockets of one user joining one room at the same instant may see each other and send
/// no event; `chat.members` is always exact.
pub fn joined<A: Adapter>(cx: &Cx<A>, room: &str) {
    let (socket, user_room) = (cx.socket.clone(), format!("{USER_ROOM_PREFIX}{}", cx.session.user_id));
    let (io, room, username) = (cx.io.clone(), room.to_owned(), cx.session.username.clone());
    cx.state.tasks.spawn(async move {
        let rooms = [room];
        if !in_rooms(|| socket.to(user_room.clone()), &rooms).await[0] {
            announce(&io, &rooms[0], &username, true).await;
        }
    });
}

/// After a socket of `user_id` left `rooms` (and, disconnecting, every room): tells each room
/// the user left, unless another of their sockets is still there. A task of its own, as
/// [`joined`]; of two sockets leaving at once the later check finds neither, so the event is
/// never lost.
pub fn left<A: Adapter>(
    io: &SocketIo<A>,
    tasks: &TaskTracker,
    user_id: &str,
    username: &str,
    rooms: Vec<String>,
) {
    if rooms.is_empty() {
        return;
    }
    let (io, user_room, username) = (io.clone(), format!("{USER_ROOM_PREFIX}{user_id}"), username.to_owned());
    tasks.spawn(async move {
        let still = in_rooms(|| io.to(user_room.clone()), &rooms).await;
        for (room, _) in rooms.iter().zip(still).filter(|(_, still)| !still) {
            announce(&io, room, &username, false).await;
        }
    });
}

/// For each of `rooms`, whether any of the sockets `select` names is in it: how many there
/// are (one request, none more when there are none), and how many outside each room.
/// `rooms()` of a user's sockets, which this replaced, read every room name of every one of
/// them: with 200 sockets per user (`chat-bench --users 50`, 10 000 clients) 28% of the
/// server's CPU while they connected; this is 1.5%. An adapter that fails answers `false`: a
/// repeated presence event is better than a missing one.
async fn in_rooms<A: Adapter>(select: impl Fn() -> BroadcastOperators<A>, rooms: &[String]) -> Vec<bool> {
    let failed = |room: &str, e: &dyn std::fmt::Display| {
        tracing::debug!(room, "presence lookup failed: {e}");
        false
    };
    let all = match select().fetch_sockets().await {
        Ok(all) => all.len(),
        Err(e) => return rooms.iter().map(|room| failed(room, &e)).collect(),
    };
    let mut found = Vec::with_capacity(rooms.len());
    for room in rooms {
        found.push(match all {
            0 => false,
            _ => match select().except(room.clone()).fetch_sockets().await {
                Ok(outside) => all > outside.len(),
                Err(e) => failed(room, &e),
            },
        });
    }
    found
}

/// Tells `room` that `username` came (`joined`) or went.
async fn announce<A: Adapter>(io: &SocketIo<A>, room: &str, username: &str, joined: bool) {
    let presence = Presence { room: room.to_owned(), username: username.to_owned(), joined };
    history::broadcast(io, events::CHAT_PRESENCE, &[room.to_owned()], &presence).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_is_passed_on_once_per_interval_and_room() {
        let throttle = TypingThrottle::default();
        assert!(throttle.allow("a"));
        assert!(!throttle.allow("a"));
        assert!(throttle.allow("b"));
        for (room, at) in throttle.0.lock().unwrap().iter_mut() {
            if room == "a" {
                *at = Instant::now() - TYPING_MIN_INTERVAL;
            }
        }
        assert!(throttle.allow("a"));
    }
}
