//! No key, paste, network event or terminal size can crash the client: random sequences of
//! them drive [`App::update`], and after each one the whole screen is drawn at a random size
//! down to 1×1 (proptest).

use std::time::Duration;

use proptest::prelude::*;
use ratatui::{Terminal, backend::TestBackend};
use shared::payload::{ChatMessage, SystemMessage, UserInfo, UserSummary};

use crate::{
    action::Action,
    app::{App, Event},
    net::{AckOutcome, NetEvent},
    ui,
};

/// Text as it arrives from a paste or the network: any characters, control ones (ESC, BEL,
/// C1, CR, LF, TAB) and wide or combining ones often.
fn text() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        '\u{1b}', '\u{7}', '\u{85}', '\u{9b}', '\r', '\n', '\t', '\u{0}', '你', '😀', '\u{301}', '\u{200d}',
        '\u{fe0f}', ' ', '/', '#', 'a',
    ]);
    prop::collection::vec(prop_oneof![any::<char>(), special], 0..40).prop_map(|v| v.into_iter().collect())
}

fn room() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["public", "dev", "", "x", "a-very-long-room-name-that-will-not-fit-anywhere"])
        .prop_map(str::to_owned)
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::Submit),
        any::<char>().prop_map(Action::Insert),
        text().prop_map(Action::Paste),
        prop::sample::select(vec![
            "/join dev",
            "/leave dev",
            "/join #x",
            "/clear",
            "/info",
            "/rooms",
            "/help",
            "/nosuch",
            "/join",
        ])
        .prop_map(|c| Action::Paste(c.to_owned())),
        prop::sample::select(vec![
            Action::Backspace,
            Action::Delete,
            Action::Left,
            Action::Right,
            Action::Home,
            Action::End,
            Action::DeleteWordBack,
            Action::DeleteToStart,
            Action::HistoryPrev,
            Action::HistoryNext,
            Action::PageUp,
            Action::PageDown,
            Action::WheelUp,
            Action::WheelDown,
            Action::ScrollTop,
            Action::ScrollBottom,
            Action::NextRoom,
            Action::PrevRoom,
            Action::ToggleHelp,
            Action::CloseHelp,
            Action::NextField,
            Action::PrevField,
            Action::ToggleSignup,
            Action::WordLeft,
            Action::WordRight,
            Action::KillToEnd,
            Action::Yank,
            Action::Complete,
            Action::SearchBack,
        ]),
        (0usize..12).prop_map(Action::SwitchRoom),
    ]
}

fn net_event() -> impl Strategy<Value = NetEvent> {
    let message = (text(), text(), room(), any::<bool>(), 0u8..5).prop_map(
        |(username, message, room, replayed, id)| {
            let username = if id == 0 { "ann".to_owned() } else { username };
            NetEvent::Message(ChatMessage {
                username,
                message,
                room,
                sent: "2026-11-30T10:00:00.000Z".into(),
                id: format!("{id:024x}"),
                replayed,
                ..Default::default()
            })
        },
    );
    prop_oneof![
        4 => message,
        1 => (text(), room()).prop_map(|(message, room)| NetEvent::Notice(SystemMessage { message, room, ..SystemMessage::default() })),
        1 => text().prop_map(NetEvent::ServerError),
        1 => Just(NetEvent::Connected { socket_id: Some("sid".into()) }),
        1 => Just(NetEvent::Connecting),
        1 => (1u32..5).prop_map(|attempt| NetEvent::Reconnecting { attempt, delay: Duration::from_secs(2), reason: "gone".into() }),
        1 => text().prop_map(|message| NetEvent::Rejected { message }),
        1 => (0u64..6, prop_oneof![Just(AckOutcome::NoAck), text().prop_map(AckOutcome::Failed), Just(AckOutcome::Stored(Some(format!("{:024x}", 1))))])
            .prop_map(|(local_id, outcome)| NetEvent::MessageAck { local_id, outcome }),
        1 => (room(), any::<bool>()).prop_map(|(room, ok)| NetEvent::Joined { room, result: if ok { Ok(()) } else { Err("no".into()) } }),
        1 => (room(), any::<bool>()).prop_map(|(room, ok)| NetEvent::Left { room, result: if ok { Ok(()) } else { Err("no".into()) } }),
        1 => (text(), any::<bool>(), prop::collection::vec(room(), 0..3)).prop_map(|(name, own, rooms)| NetEvent::UserInfo {
            socket_id: "sid".into(),
            own,
            info: Some(UserInfo { socket_id: "sid".into(), rooms, user: UserSummary { username: name } }),
        }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        3 => action().prop_map(Event::Action),
        3 => net_event().prop_map(Event::Net),
        1 => (0u16..200, 0u16..60).prop_map(|(width, height)| Event::Resize { width, height }),
        1 => Just(Event::Tick(chrono::Utc::now())),
        1 => prop_oneof![Just(Ok("ann".to_owned())), text().prop_map(Err)].prop_map(Event::LoggedIn),
        1 => Just(Event::Action(Action::Paste("/login".into()))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn any_events_at_any_size_never_panic(
        events in prop::collection::vec(event(), 1..60),
        sizes in prop::collection::vec((1u16..120, 1u16..40), 1..4),
    ) {
        let mut app = App::new("http://localhost:3001", "ann", "public", 50);
        for (i, event) in events.into_iter().enumerate() {
            if let Event::Resize { width, height } = event {
                let (width, height) = ui::message_pane_size(width, height);
                app.update(Event::Resize { width, height });
            } else {
                app.update(event);
            }
            let (w, h) = sizes[i % sizes.len()];
            let mut term = Terminal::new(TestBackend::new(w, h)).expect("test backend");
            term.draw(|frame| ui::draw(frame, &app)).expect("draw");
        }
    }
}
