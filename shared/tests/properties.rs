//! Properties of what clients send, over generated input (proptest): decoding never panics,
//! accepts exactly the protocol's shapes, and validation is stable under normalisation.

use proptest::prelude::*;
use serde_json::{Value, json};
use shared::{
    errors,
    inbound::{AllArgs, MessageArgs, message_text, room_arg, socket_id_arg},
    validate::{self, MAX_ROOM_CHARS, USERNAME_CHARS},
};
use unicode_normalization::is_nfc;

/// Any JSON value, nested a few levels, with strings from all of Unicode and object keys that
/// are often the ones the protocol reads.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        let key = prop_oneof![Just("room".to_string()), Just("message".to_string()), any::<String>()];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(key, inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Strings of letters from several scripts, combining marks, digits, separators, invisible and
/// control characters and look-alikes: the neighbourhood where identifier rules are decided.
fn identifier_like() -> impl Strategy<Value = String> {
    let chars = prop_oneof![
        prop::char::range('a', 'z'),
        prop::char::range('A', 'Z'),
        prop::char::range('0', '9'),
        prop::sample::select(vec![
            ' ', '-', '_', '.', ':', '/', '\t', '\u{301}', '\u{308}', 'é', 'É', 'ß', 'İ', 'ı', 'ﬁ',
            '\u{ff21}', '\u{ff41}', '\u{410}', '\u{430}', 'я', 'α', 'Ω', 'ह', 'ि', '्', 'த', 'ி', 'ห', '้',
            '李', '小', 'た', 'カ', '\u{200d}', '\u{200b}', '\u{7}', '\u{85}',
        ]),
    ];
    prop::collection::vec(chars, 0..40).prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn chat_message_arguments_are_one_of_three_shapes_or_refused(args in prop::collection::vec(json_value(), 0..4)) {
        let expected_ok = match args.as_slice() {
            [Value::String(_)] | [Value::String(_), Value::String(_)] => true,
            [Value::Object(o)] => {
                matches!((o.get("room"), o.get("message")), (Some(Value::String(_)), Some(Value::String(_))))
            }
            _ => false,
        };
        match MessageArgs::parse(args) {
            Ok(MessageArgs::ToRoom { room, .. }) => prop_assert!(expected_ok && is_nfc(&room)),
            Ok(MessageArgs::Home(_)) => prop_assert!(expected_ok),
            Err(e) => prop_assert!(!expected_ok && e == errors::MESSAGE_INVALID),
        }
    }

    #[test]
    fn room_and_socket_id_arguments_refuse_anything_but_one_string(args in prop::collection::vec(json_value(), 0..3)) {
        let one_string = matches!(args.as_slice(), [Value::String(_)]);
        let room = room_arg(args.clone());
        prop_assert!(one_string || room == Err(errors::ROOM_INVALID_PAYLOAD.into()));
        prop_assert_eq!(one_string, socket_id_arg(args).is_ok());
    }

    #[test]
    fn any_event_packet_decodes_or_fails_cleanly(text in "\\PC{0,64}", args in prop::collection::vec(json_value(), 0..4)) {
        let _ = serde_json::from_str::<AllArgs>(&text);
        let encoded = serde_json::to_string(&args).expect("encode");
        let decoded = serde_json::from_str::<AllArgs>(&encoded).expect("decode").0;
        // Floats may round-trip to another representation; the count and kinds may not change.
        prop_assert_eq!(decoded.len(), args.len());
    }

    #[test]
    fn a_valid_room_is_nfc_bounded_and_valid_again(name in identifier_like()) {
        if let Ok(room) = validate::room(&name) {
            prop_assert!(is_nfc(&room));
            prop_assert!((1..=MAX_ROOM_CHARS).contains(&room.chars().count()));
            prop_assert!(!room.contains([':', ' ', '/']));
            prop_assert_eq!(validate::room(&room), Ok(room.clone()));
            prop_assert_eq!(validate::normalize_room(&name), room);
        }
    }

    #[test]
    fn a_valid_username_is_stable_and_keeps_its_key(name in identifier_like()) {
        if let Ok(stored) = validate::username(&name) {
            prop_assert!(USERNAME_CHARS.contains(&stored.chars().count()));
            prop_assert_eq!(validate::username(&stored), Ok(stored.clone()), "normalising twice changes nothing");
            prop_assert_eq!(validate::username_key(&stored), validate::username_key(&name));
            prop_assert!(!stored.chars().any(char::is_control));
        }
    }

    #[test]
    fn usernames_differing_in_ascii_case_or_width_share_a_key(name in "[a-zA-Z][a-zA-Z0-9_]{2,20}") {
        let key = validate::username_key(&name);
        prop_assert_eq!(validate::username_key(&name.to_uppercase()), key.clone());
        prop_assert_eq!(validate::username_key(&name.to_lowercase()), key.clone());
        let full_width: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { char::from_u32(c as u32 + 0xfee0).unwrap_or(c) } else { c })
            .collect();
        prop_assert_eq!(validate::username_key(&full_width), key);
    }

    #[test]
    fn message_text_is_refused_exactly_when_blank_or_too_long(text in "\\PC{0,40}", max in 0usize..64) {
        let verdict = message_text(&text, max);
        if text.trim().is_empty() {
            prop_assert_eq!(verdict, Err(errors::MESSAGE_EMPTY.to_string()));
        } else if text.len() > max {
            prop_assert_eq!(verdict, Err(errors::message_too_long(max)));
        } else {
            prop_assert_eq!(verdict, Ok(()));
        }
    }
}
