//! What clients send, decoded: every event's arguments as a server reads them, with the
//! validation that applies before a handler runs. Pure functions over JSON values, so they can
//! be property-tested and fuzzed apart from any socket (`shared/fuzz`).

use serde::{Deserialize, Deserializer, de};
use serde_json::Value;

use crate::{errors, validate};

/// Socket ids are 16 characters; anything much longer names no socket.
pub const MAX_SOCKET_ID_LEN: usize = 64;

/// Every argument of an event packet (`["event", arg, …]` without the name), however many
/// there are. socketioxide hands a plain `Value` only the first argument; a tuple-like type
/// gets them all, so this deserializes as a tuple of any length.
#[derive(Debug, Default, PartialEq)]
pub struct AllArgs(pub Vec<Value>);

impl<'de> Deserialize<'de> for AllArgs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Args;
        impl<'de> de::Visitor<'de> for Args {
            type Value = AllArgs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("event arguments")
            }
            fn visit_seq<S: de::SeqAccess<'de>>(self, mut seq: S) -> Result<AllArgs, S::Error> {
                let mut args = Vec::new();
                while let Some(arg) = seq.next_element()? {
                    args.push(arg);
                }
                Ok(AllArgs(args))
            }
        }
        deserializer.deserialize_tuple(usize::MAX, Args)
    }
}

/// `chat.message`'s arguments: where a message goes and what it says.
#[derive(Debug, PartialEq, Eq)]
pub enum MessageArgs {
    /// `(message)`, chapter 13: to the handshake room.
    Home(String),
    /// `({room, message})` (ours) or `(room, message)` (chapter 15): to a joined room, whose
    /// name is in its normal form (NFC).
    ToRoom { room: String, message: String },
}

impl MessageArgs {
    /// Exactly one of the three shapes; anything else is refused, never reinterpreted.
    ///
    /// # Errors
    /// [`errors::MESSAGE_INVALID`] for any other shape.
    pub fn parse(args: Vec<Value>) -> Result<Self, String> {
        let invalid = || errors::MESSAGE_INVALID.to_string();
        let to_room =
            |room: String, message| MessageArgs::ToRoom { room: validate::normalize_room(&room), message };
        let mut args = args.into_iter();
        match (args.next(), args.next(), args.next()) {
            (Some(Value::String(text)), None, None) => Ok(MessageArgs::Home(text)),
            (Some(Value::Object(mut fields)), None, None) => {
                match (fields.remove("room"), fields.remove("message")) {
                    (Some(Value::String(room)), Some(Value::String(message))) => Ok(to_room(room, message)),
                    _ => Err(invalid()),
                }
            }
            (Some(Value::String(room)), Some(Value::String(message)), None) => Ok(to_room(room, message)),
            _ => Err(invalid()),
        }
    }
}

/// A chat message's text: not blank, at most `max_bytes` bytes of UTF-8.
///
/// # Errors
/// [`errors::MESSAGE_EMPTY`] or [`errors::message_too_long`].
pub fn message_text(text: &str, max_bytes: usize) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err(errors::MESSAGE_EMPTY.to_string());
    }
    if text.len() > max_bytes {
        return Err(errors::message_too_long(max_bytes));
    }
    Ok(())
}

/// `chat.join` and `chat.leave`'s one argument: a valid room name, in its normal form.
///
/// # Errors
/// [`errors::ROOM_INVALID_PAYLOAD`] for anything but one string; [`validate::room`]'s rule for
/// a string that is no room name.
pub fn room_arg(args: Vec<Value>) -> Result<String, String> {
    match <[Value; 1]>::try_from(args) {
        Ok([Value::String(room)]) => validate::room(&room),
        _ => Err(errors::ROOM_INVALID_PAYLOAD.into()),
    }
}

/// `user.info`'s one argument: a socket id, `None` when too long to name any socket.
///
/// # Errors
/// [`errors::SOCKET_ID_INVALID`] for anything but one string.
pub fn socket_id_arg(args: Vec<Value>) -> Result<Option<String>, String> {
    match <[Value; 1]>::try_from(args) {
        Ok([Value::String(sid)]) => Ok((sid.len() <= MAX_SOCKET_ID_LEN).then_some(sid)),
        _ => Err(errors::SOCKET_ID_INVALID.into()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn all_args_reads_every_argument() {
        let args: AllArgs = serde_json::from_str(r#"["a", {"b": 1}, 3]"#).unwrap();
        assert_eq!(args.0, vec![Value::from("a"), json!({"b": 1}), Value::from(3)]);
        let none: AllArgs = serde_json::from_str("[]").unwrap();
        assert!(none.0.is_empty());
    }

    #[test]
    fn messages_parse_in_the_three_shapes_with_the_room_in_nfc() {
        assert_eq!(MessageArgs::parse(vec![json!("hi")]), Ok(MessageArgs::Home("hi".into())));
        let to_room = Ok(MessageArgs::ToRoom { room: "r".into(), message: "m".into() });
        assert_eq!(MessageArgs::parse(vec![json!({"room": "r", "message": "m"})]), to_room);
        assert_eq!(MessageArgs::parse(vec![json!("r"), json!("m")]), to_room);
        let cafe = MessageArgs::parse(vec![json!("cafe\u{301}"), json!("m")]);
        assert_eq!(cafe, Ok(MessageArgs::ToRoom { room: "café".into(), message: "m".into() }));
    }

    #[test]
    fn messages_in_any_other_shape_are_refused() {
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
            assert_eq!(MessageArgs::parse(bad.clone()), invalid, "{bad:?}");
        }
    }

    #[test]
    fn room_and_socket_id_arguments() {
        assert_eq!(room_arg(vec![json!("dev")]), Ok("dev".into()));
        assert_eq!(room_arg(vec![json!("a b")]), Err(validate::room("a b").unwrap_err()));
        for bad in [vec![], vec![json!(5)], vec![json!("a"), json!("b")]] {
            assert_eq!(room_arg(bad), Err(errors::ROOM_INVALID_PAYLOAD.into()));
        }
        assert_eq!(socket_id_arg(vec![json!("abc")]), Ok(Some("abc".into())));
        assert_eq!(socket_id_arg(vec![json!("x".repeat(65))]), Ok(None));
        assert_eq!(socket_id_arg(vec![json!(1)]), Err(errors::SOCKET_ID_INVALID.into()));
    }

    #[test]
    fn message_text_is_neither_blank_nor_too_long() {
        assert_eq!(message_text("  \t\n", 10), Err(errors::MESSAGE_EMPTY.into()));
        assert_eq!(message_text("ééééé", 9), Err(errors::message_too_long(9)));
        assert_eq!(message_text("éééé", 8), Ok(()));
    }
}
