//! `chat.message`: validate, publish to the room, and ack once stored.

use chrono::Utc;
use serde_json::Value;
use shared::{
    errors, events,
    inbound::{MessageArgs, message_text},
    payload::MessageAck,
};
use socketioxide::adapter::Adapter;

use super::{
    event::{Answer, ClientEvent, Cx, FromArgs},
    is_chat_room,
};
use crate::{
    store::{self, Message, writer::Stored},
    telemetry,
};

/// `chat.message`, in each of the book's forms and ours.
pub struct SendMessage;

impl FromArgs for MessageArgs {
    fn from_args(args: Vec<Value>) -> Result<Self, String> {
        MessageArgs::parse(args)
    }
}

impl ClientEvent for SendMessage {
    const NAME: &'static str = events::CHAT_MESSAGE;
    type Args = MessageArgs;
    type Ack = MessageAck;

    /// Validates and publishes in the socket's order, then waits for the write off the queue,
    /// so the next event need not wait for the store.
    async fn handle<A: Adapter>(cx: &Cx<A>, args: MessageArgs) -> Answer<MessageAck> {
        telemetry::count_one(telemetry::MESSAGES_RECEIVED);
        let (room, text, action) = match args {
            MessageArgs::Home(text) => (cx.session.home_room.clone(), text, false),
            MessageArgs::ToRoom { room, message, action } => (room, message, action),
        };
        if let Err(refused) = message_text(&text, cx.state.config.max_message_bytes) {
            return Err(refused).into();
        }
        if !is_chat_room(&room) || !cx.socket.rooms().iter().any(|r| *r == room) {
            return Err(errors::not_in_room(&room)).into();
        }
        let message = Message {
            id: store::new_id(),
            username: cx.session.username.clone(),
            message: text,
            room,
            sent: Utc::now(),
            action,
        };
        let (id, room) = (message.id.clone(), message.room.clone());
        let stored = cx.state.history.publish(&cx.io, message, &cx.session.order).await;
        telemetry::count_one(telemetry::MESSAGES_BROADCAST);
        ack_once_stored(cx, id, room, stored)
    }
}

/// The ack of a published message: `{success: true, id}` once the store has it (off the
/// socket's queue), else the refusal that says it was not stored.
pub fn ack_once_stored<A: Adapter>(
    cx: &Cx<A>,
    id: String,
    room: String,
    stored: Stored,
) -> Answer<MessageAck> {
    let (history, sid) = (cx.state.history.clone(), cx.socket.id);
    Answer::Later(Box::pin(async move {
        history.confirm(&room, stored).await.map(|()| MessageAck::stored(id)).map_err(|e| {
            tracing::warn!(%sid, "message not stored: {e}");
            errors::MESSAGE_NOT_STORED.to_string()
        })
    }))
}
