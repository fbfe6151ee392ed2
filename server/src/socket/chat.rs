//! `chat.message`: validate, publish to the room, and ack once stored.

use chrono::Utc;
use serde_json::Value;
use shared::{errors, events, payload::MessageAck};
use socketioxide::adapter::Adapter;

use super::{
    event::{Answer, ClientEvent, Cx, FromArgs},
    is_chat_room,
};
use crate::store::{self, Message};

/// `chat.message`, in each of the book's forms and ours.
pub struct SendMessage;

/// Where a message goes and what it says.
#[derive(Debug, PartialEq, Eq)]
pub enum MessageArgs {
    /// `(message)`, chapter 13: to the handshake room.
    Home(String),
    /// `({room, message})` (ours) or `(room, message)` (chapter 15): to a joined room.
    ToRoom { room: String, message: String },
}

impl FromArgs for MessageArgs {
    /// Exactly one of the three shapes; anything else is refused, never reinterpreted.
    fn from_args(args: Vec<Value>) -> Result<Self, String> {
        let invalid = || errors::MESSAGE_INVALID.to_string();
        let mut args = args.into_iter();
        match (args.next(), args.next(), args.next()) {
            (Some(Value::String(text)), None, None) => Ok(MessageArgs::Home(text)),
            (Some(Value::Object(mut fields)), None, None) => {
                match (fields.remove("room"), fields.remove("message")) {
                    (Some(Value::String(room)), Some(Value::String(message))) => {
                        Ok(MessageArgs::ToRoom { room, message })
                    }
                    _ => Err(invalid()),
                }
            }
            (Some(Value::String(room)), Some(Value::String(message)), None) => {
                Ok(MessageArgs::ToRoom { room, message })
            }
            _ => Err(invalid()),
        }
    }
}

impl ClientEvent for SendMessage {
    const NAME: &'static str = events::CHAT_MESSAGE;
    type Args = MessageArgs;
    type Ack = MessageAck;

    /// Validates and publishes in the socket's order, then waits for the write off the queue,
    /// so the next event need not wait for the store.
    async fn handle<A: Adapter>(cx: &Cx<A>, args: MessageArgs) -> Answer<MessageAck> {
        let (room, text) = match args {
            MessageArgs::Home(text) => (cx.session.home_room.clone(), text),
            MessageArgs::ToRoom { room, message } => (shared::validate::normalize_room(&room), message),
        };
        if text.trim().is_empty() {
            return Err(errors::MESSAGE_EMPTY.to_string()).into();
        }
        let max = cx.state.config.max_message_bytes;
        if text.len() > max {
            return Err(errors::message_too_long(max)).into();
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
        };
        let (id, room) = (message.id.clone(), message.room.clone());
        let stored = cx.state.history.publish(&cx.io, message, &cx.session.order).await;
        let (history, sid) = (cx.state.history.clone(), cx.socket.id);
        Answer::Later(Box::pin(async move {
            history.confirm(&room, stored).await.map(|()| MessageAck::stored(id)).map_err(|e| {
                tracing::warn!(%sid, "message not stored: {e}");
                errors::MESSAGE_NOT_STORED.to_string()
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(args: Vec<Value>) -> Result<MessageArgs, String> {
        MessageArgs::from_args(args)
    }

    #[test]
    fn parses_the_three_shapes() {
        assert_eq!(parse(vec![json!("hi")]), Ok(MessageArgs::Home("hi".into())));
        let to_room = Ok(MessageArgs::ToRoom { room: "r".into(), message: "m".into() });
        assert_eq!(parse(vec![json!({"room": "r", "message": "m"})]), to_room);
        assert_eq!(parse(vec![json!("r"), json!("m")]), to_room);
    }

    #[test]
    fn refuses_everything_else() {
        let invalid = Err(errors::MESSAGE_INVALID.to_string());
        for bad in [
            vec![],
            vec![json!(42)],
            vec![json!(null)],
            vec![json!(true)],
            vec![json!(["hi"])],
            vec![json!({"message": 1})],
            vec![json!({"room": "r"})],
            vec![json!("r"), json!(7)],
            vec![json!("r"), json!({"message": "m"})],
            vec![json!("r"), json!("m"), json!("extra")],
            vec![json!({"room": "r", "message": "m"}), json!("m")],
        ] {
            assert_eq!(parse(bad.clone()), invalid, "{bad:?}");
        }
    }
}
