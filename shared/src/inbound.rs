//! What clients send, decoded: every event's arguments as a server reads them, with the
//! validation that applies before a handler runs. Pure functions over JSON values, so they can
//! be property-tested and fuzzed apart from any socket (`shared/fuzz`).

use serde::{Deserialize, Deserializer, de};
use serde_json::Value;
use unicode_normalization::UnicodeNormalization;

use crate::{
    defaults, errors, events,
    payload::{DirectRequest, HistoryQuery, JoinRequest, SearchQuery},
    validate,
};

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
    /// `({room, message, action?})` (ours) or `(room, message)` (chapter 15): to a joined
    /// room, whose name is in its normal form (NFC); `action` for `/me`.
    ToRoom { room: String, message: String, action: bool },
}

impl MessageArgs {
    /// Exactly one of the three shapes; anything else is refused, never reinterpreted.
    ///
    /// # Errors
    /// [`errors::MESSAGE_INVALID`] for any other shape.
    pub fn parse(args: Vec<Value>) -> Result<Self, String> {
        let invalid = || errors::MESSAGE_INVALID.to_string();
        let to_room = |room: String, message, action| MessageArgs::ToRoom {
            room: validate::normalize_room(&room),
            message,
            action,
        };
        let mut args = args.into_iter();
        match (args.next(), args.next(), args.next()) {
            (Some(Value::String(text)), None, None) => Ok(MessageArgs::Home(text)),
            (Some(Value::Object(mut fields)), None, None) => {
                let action = match fields.remove("action") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(action)) => action,
                    Some(_) => return Err(invalid()),
                };
                match (fields.remove("room"), fields.remove("message")) {
                    (Some(Value::String(room)), Some(Value::String(message))) => {
                        Ok(to_room(room, message, action))
                    }
                    _ => Err(invalid()),
                }
            }
            (Some(Value::String(room)), Some(Value::String(message)), None) => {
                Ok(to_room(room, message, false))
            }
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

/// `chat.join`'s argument: a room name (the book's form), or `{room, after?}` (ours: resume
/// after message `after`). The room in its normal form, the id in lower case.
///
/// # Errors
/// As [`room_arg`]; [`errors::INVALID_MESSAGE_ID`] for an `after` that is no message id.
pub fn join_arg(args: Vec<Value>) -> Result<(String, Option<String>), String> {
    match <[Value; 1]>::try_from(args) {
        Ok([Value::String(room)]) => Ok((validate::room(&room)?, None)),
        Ok([object @ Value::Object(_)]) => {
            let request: JoinRequest =
                serde_json::from_value(object).map_err(|_| errors::ROOM_INVALID_PAYLOAD.to_string())?;
            Ok((validate::room(&request.room)?, request.after.as_deref().map(message_id).transpose()?))
        }
        _ => Err(errors::ROOM_INVALID_PAYLOAD.into()),
    }
}

/// A room named by a string or `{room}` (`chat.members`, `chat.typing`).
///
/// # Errors
/// [`errors::ROOM_INVALID_PAYLOAD`] for other shapes; [`validate::room`]'s rule.
pub fn room_or_object_arg(args: Vec<Value>) -> Result<String, String> {
    match <[Value; 1]>::try_from(args) {
        Ok([Value::Object(mut fields)]) if fields.len() == 1 => {
            room_arg(fields.remove("room").into_iter().collect())
        }
        Ok([arg]) => room_arg(vec![arg]),
        _ => Err(errors::ROOM_INVALID_PAYLOAD.into()),
    }
}

/// A message id as sent by the server (an ObjectId: 24 hexadecimal digits), in lower case.
///
/// # Errors
/// [`errors::INVALID_MESSAGE_ID`].
pub fn message_id(id: &str) -> Result<String, String> {
    if id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(errors::INVALID_MESSAGE_ID.into())
    }
}

/// Whose history a `chat.history` pages through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conversation {
    /// A chat room, in its normal form.
    Room(String),
    /// The direct conversation with this username.
    With(String),
}

/// A validated page request: `limit` messages before `before` (`None`: the newest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageArgs {
    pub before: Option<String>,
    pub limit: usize,
}

impl PageArgs {
    fn new(before: Option<String>, limit: Option<usize>) -> Result<Self, String> {
        let limit = limit.unwrap_or(defaults::PAGE_LEN).clamp(1, defaults::MAX_PAGE_LEN);
        Ok(PageArgs { before: before.as_deref().map(message_id).transpose()?, limit })
    }
}

/// `chat.history`'s one argument, [`HistoryQuery`]: exactly one of `room` and `with`.
///
/// # Errors
/// [`errors::invalid_request`] for another shape, a room's or a cursor's own rule.
pub fn history_arg(args: Vec<Value>) -> Result<(Conversation, PageArgs), String> {
    let shape = || errors::invalid_request(events::CHAT_HISTORY, "{room or with, before?, limit?}");
    let query: HistoryQuery = one_object(args).ok_or_else(shape)?;
    let conversation = match (query.room, query.with) {
        (Some(room), None) => Conversation::Room(validate::room(&room)?),
        (None, Some(with)) if !with.is_empty() => Conversation::With(with),
        _ => return Err(shape()),
    };
    Ok((conversation, PageArgs::new(query.before, query.limit)?))
}

/// Longest `chat.search` query, in characters, and most words in it.
pub const MAX_SEARCH_CHARS: usize = 200;
pub const MAX_SEARCH_WORDS: usize = 8;

/// `chat.search`'s one argument, [`SearchQuery`]: the room, the query's words (at most
/// [`MAX_SEARCH_WORDS`], NFC) and the page.
///
/// # Errors
/// [`errors::invalid_request`], [`errors::SEARCH_EMPTY`], a room's or a cursor's own rule.
pub fn search_arg(args: Vec<Value>) -> Result<(String, Vec<String>, PageArgs), String> {
    let shape = || errors::invalid_request(events::CHAT_SEARCH, "{room, query, before?, limit?}");
    let query: SearchQuery = one_object(args).ok_or_else(shape)?;
    let text: String = query.query.chars().take(MAX_SEARCH_CHARS).collect();
    let words: Vec<String> =
        text.split_whitespace().take(MAX_SEARCH_WORDS).map(|w| w.nfc().collect()).collect();
    if words.is_empty() {
        return Err(errors::SEARCH_EMPTY.into());
    }
    Ok((validate::room(&query.room)?, words, PageArgs::new(query.before, query.limit)?))
}

/// `chat.direct`'s one argument, [`DirectRequest`].
///
/// # Errors
/// [`errors::invalid_request`] for another shape.
pub fn direct_arg(args: Vec<Value>) -> Result<DirectRequest, String> {
    let shape = || errors::invalid_request(events::CHAT_DIRECT, "{to, message, action?}");
    one_object::<DirectRequest>(args).filter(|d| !d.to.is_empty()).ok_or_else(shape)
}

/// The one argument, when it is an object of `T`'s shape.
fn one_object<T: serde::de::DeserializeOwned>(args: Vec<Value>) -> Option<T> {
    match <[Value; 1]>::try_from(args) {
        Ok([object @ Value::Object(_)]) => serde_json::from_value(object).ok(),
        _ => None,
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
        let to_room = Ok(MessageArgs::ToRoom { room: "r".into(), message: "m".into(), action: false });
        assert_eq!(MessageArgs::parse(vec![json!({"room": "r", "message": "m"})]), to_room);
        assert_eq!(MessageArgs::parse(vec![json!("r"), json!("m")]), to_room);
        let cafe = MessageArgs::parse(vec![json!("cafe\u{301}"), json!("m")]);
        assert_eq!(cafe, Ok(MessageArgs::ToRoom { room: "café".into(), message: "m".into(), action: false }));
        let action = MessageArgs::parse(vec![json!({"room": "r", "message": "waves", "action": true})]);
        assert_eq!(
            action,
            Ok(MessageArgs::ToRoom { room: "r".into(), message: "waves".into(), action: true })
        );
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
            vec![json!({"room": "r", "message": "m", "action": "yes"})],
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
    fn join_history_search_and_direct_arguments() {
        let id = "65A1B2C3D4E5F60718293A4B";
        assert_eq!(join_arg(vec![json!("dev")]), Ok(("dev".into(), None)));
        assert_eq!(
            join_arg(vec![json!({"room": "dev", "after": id})]),
            Ok(("dev".into(), Some(id.to_lowercase())))
        );
        assert_eq!(
            join_arg(vec![json!({"room": "dev", "after": "x"})]),
            Err(errors::INVALID_MESSAGE_ID.into())
        );
        assert_eq!(join_arg(vec![json!({"after": id})]), Err(errors::ROOM_INVALID_PAYLOAD.into()));
        assert_eq!(room_or_object_arg(vec![json!({"room": "dev"})]), Ok("dev".into()));
        assert_eq!(room_or_object_arg(vec![json!("dev")]), Ok("dev".into()));
        assert!(room_or_object_arg(vec![json!({"room": "dev", "x": 1})]).is_err());

        let page = |before: Option<&str>, limit| PageArgs { before: before.map(str::to_owned), limit };
        assert_eq!(
            history_arg(vec![json!({"room": "dev"})]),
            Ok((Conversation::Room("dev".into()), page(None, defaults::PAGE_LEN)))
        );
        assert_eq!(
            history_arg(vec![json!({"with": "bob", "before": id, "limit": 100_000})]),
            Ok((Conversation::With("bob".into()), page(Some(&id.to_lowercase()), defaults::MAX_PAGE_LEN)))
        );
        for bad in [
            json!({}),
            json!({"room": "a", "with": "b"}),
            json!({"room": 1}),
            json!("dev"),
            json!({"with": ""}),
        ] {
            assert!(history_arg(vec![bad.clone()]).is_err(), "{bad}");
        }
        assert_eq!(
            search_arg(vec![json!({"room": "dev", "query": "  hello   wörld ", "limit": 0})]),
            Ok(("dev".into(), vec!["hello".into(), "wörld".into()], page(None, 1)))
        );
        assert_eq!(search_arg(vec![json!({"room": "dev", "query": " "})]), Err(errors::SEARCH_EMPTY.into()));
        let words = search_arg(vec![json!({"room": "dev", "query": "a ".repeat(50)})]).unwrap().1;
        assert_eq!(words.len(), MAX_SEARCH_WORDS);

        let direct = direct_arg(vec![json!({"to": "bob", "message": "hi"})]).unwrap();
        assert_eq!((direct.to.as_str(), direct.message.as_str(), direct.action), ("bob", "hi", false));
        assert!(direct_arg(vec![json!({"to": "", "message": "hi"})]).is_err());
        assert!(direct_arg(vec![json!("bob"), json!("hi")]).is_err());
    }

    #[test]
    fn message_text_is_neither_blank_nor_too_long() {
        assert_eq!(message_text("  \t\n", 10), Err(errors::MESSAGE_EMPTY.into()));
        assert_eq!(message_text("ééééé", 9), Err(errors::message_too_long(9)));
        assert_eq!(message_text("éééé", 8), Ok(()));
    }
}
