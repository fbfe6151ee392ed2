//! `chat.direct`: a message from one user to another, delivered to every socket of both
//! (their `user:<id>` rooms, on every node) and stored as the pair's own conversation.

use chrono::Utc;
use serde_json::Value;
use shared::{
    errors, events,
    inbound::message_text,
    payload::{ChatMessage, DirectRequest, MessageAck},
};
use socketioxide::adapter::Adapter;

use super::{
    USER_ROOM_PREFIX, chat,
    event::{Answer, ClientEvent, Cx, FromArgs},
    history::{self, Route},
};
use crate::{
    store::{self, Message, Store, User},
    telemetry,
};

/// Prefix of the store's room for a direct conversation (no chat room has a `:`).
const CONVERSATION_PREFIX: &str = "dm:";

/// `chat.direct {to, message, action?}`, acked like `chat.message` once stored.
pub struct SendDirect;

impl FromArgs for DirectRequest {
    fn from_args(args: Vec<Value>) -> Result<Self, String> {
        shared::inbound::direct_arg(args)
    }
}

impl ClientEvent for SendDirect {
    const NAME: &'static str = events::CHAT_DIRECT;
    type Args = DirectRequest;
    type Ack = MessageAck;

    async fn handle<A: Adapter>(cx: &Cx<A>, request: DirectRequest) -> Answer<MessageAck> {
        telemetry::count_one(telemetry::MESSAGES_RECEIVED);
        if let Err(refused) = message_text(&request.message, cx.state.config.max_message_bytes) {
            return Err(refused).into();
        }
        let peer = match peer(&*cx.state.store, &request.to).await {
            Ok(peer) => peer,
            Err(refused) => return Err(refused).into(),
        };
        let message = Message {
            id: store::new_id(),
            username: cx.session.username.clone(),
            message: request.message,
            room: conversation(&cx.session.user_id, &peer.id),
            sent: Utc::now(),
            action: request.action,
        };
        let route = Route {
            event: events::CHAT_DIRECT,
            rooms: vec![
                format!("{USER_ROOM_PREFIX}{}", cx.session.user_id),
                format!("{USER_ROOM_PREFIX}{}", peer.id),
            ],
            payload: to_payload(&message, &cx.session.username, &peer.username, false),
            // Direct messages are not replayed by connection state recovery.
            offset: None,
        };
        let (id, room) = (message.id.clone(), message.room.clone());
        let stored = cx.state.history.publish_to(&cx.io, message, route, &cx.session.order).await;
        chat::ack_once_stored(cx, id, room, stored)
    }
}

/// The user called `name` (or a look-alike of it, as logins find them).
///
/// # Errors
/// [`errors::NO_SUCH_USER`], or [`errors::SERVICE_UNAVAILABLE`] when the store fails.
pub async fn peer(store: &dyn Store, name: &str) -> Result<User, String> {
    match store.user_by_name(name).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(errors::NO_SUCH_USER.to_string()),
        Err(e) => {
            tracing::warn!(name, "user lookup failed: {e}");
            Err(errors::SERVICE_UNAVAILABLE.to_string())
        }
    }
}

/// The store's room for the conversation of users `a` and `b`, the same both ways.
pub fn conversation(a: &str, b: &str) -> String {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    format!("{CONVERSATION_PREFIX}{low}:{high}")
}

/// A stored direct message between `me` and `peer` as clients get it: `to` is whichever of
/// the two did not send it, `room` is empty.
pub fn to_payload(message: &Message, me: &str, peer: &str, replayed: bool) -> ChatMessage {
    let to = if message.username == me { peer } else { me };
    ChatMessage { room: String::new(), to: Some(to.to_owned()), ..history::to_payload(message, replayed) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_is_one_room_whoever_writes() {
        assert_eq!(conversation("b1", "a2"), "dm:a2:b1");
        assert_eq!(conversation("a2", "b1"), conversation("b1", "a2"));
        assert!(!super::super::is_chat_room(&conversation("a", "b")));
    }
}
