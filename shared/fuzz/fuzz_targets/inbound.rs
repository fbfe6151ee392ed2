//! Everything a client's event packet goes through before a handler sees it: the arguments as
//! socketioxide hands them on (`[arg, …]`), each event's argument shapes, and the identifier
//! and message rules. Crashes are panics; the invariants below are asserted too.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use shared::{
    inbound::{
        AllArgs, MessageArgs, direct_arg, history_arg, join_arg, message_text, room_arg, room_or_object_arg,
        search_arg, socket_id_arg,
    },
    validate,
};

/// What must hold for any string a client sends as a room, a username or a message.
fn check_string(s: &str) {
    if let Ok(room) = validate::room(s) {
        assert_eq!(validate::room(&room).as_deref(), Ok(room.as_str()), "room validation is stable");
    }
    if let Ok(name) = validate::username(s) {
        assert_eq!(validate::username(&name).as_deref(), Ok(name.as_str()), "username validation is stable");
        assert_eq!(validate::username_key(&name), validate::username_key(s), "one key per name");
    }
    let _ = validate::password(s);
    let _ = message_text(s, shared::defaults::MAX_MESSAGE_BYTES);
}

fn check_strings(value: &Value) {
    match value {
        Value::String(s) => check_string(s),
        Value::Array(items) => items.iter().for_each(check_strings),
        Value::Object(fields) => fields.iter().for_each(|(k, v)| {
            check_string(k);
            check_strings(v);
        }),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check_string(text);
    }
    let Ok(AllArgs(args)) = serde_json::from_slice::<AllArgs>(data) else { return };
    args.iter().for_each(check_strings);
    if let Ok(MessageArgs::ToRoom { room, .. }) = MessageArgs::parse(args.clone()) {
        assert_eq!(validate::normalize_room(&room), room, "rooms arrive in NFC");
    }
    if let Ok(room) = room_arg(args.clone()) {
        assert_eq!(validate::room(&room).as_deref(), Ok(room.as_str()));
    }
    if let Ok((room, after)) = join_arg(args.clone()) {
        assert_eq!(validate::room(&room).as_deref(), Ok(room.as_str()));
        assert!(after.is_none_or(|id| id.len() == 24));
    }
    if let Ok(room) = room_or_object_arg(args.clone()) {
        assert_eq!(validate::room(&room).as_deref(), Ok(room.as_str()));
    }
    if let Ok((_, page)) = history_arg(args.clone()) {
        assert!((1..=shared::defaults::MAX_PAGE_LEN).contains(&page.limit));
    }
    if let Ok((_, words, _)) = search_arg(args.clone()) {
        assert!(!words.is_empty() && words.len() <= shared::inbound::MAX_SEARCH_WORDS);
    }
    let _ = direct_arg(args.clone());
    if let Ok(Some(sid)) = socket_id_arg(args) {
        assert!(sid.len() <= shared::inbound::MAX_SOCKET_ID_LEN);
    }
});
