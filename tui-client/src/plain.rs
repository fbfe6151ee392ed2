//! `--plain` / `--json`: the client for scripts. Each stdin line is sent as a message to the
//! room; each message received is one stdout line, `[room] username: message` or a JSON
//! object; errors go to stderr. It ends when stdin ends and every message was answered, with
//! status 0, 1 when a message failed or the server could not be reached, 2 when refused.

use std::{
    collections::HashSet,
    io::{BufRead, Write},
    process::ExitCode,
    time::Duration,
};

use shared::payload::{ChatMessage, SystemMessage};
use tokio::sync::mpsc;

use crate::{
    app::is_auth_failure,
    auth::{self, LoginOptions, PASSWORD_ENV, Session, TokenStore},
    net::{AckOutcome, Net, NetCommand, NetConfig, NetEvent},
    scrollback::SeenIds,
};

/// Failed connection attempts in a row, before any success, after which a script gives up.
const MAX_FIRST_ATTEMPTS: u32 = 5;
/// With stdin at its end, the run ends once the server has been quiet this long: the history
/// replayed on connect is printed even for `< /dev/null`.
const SETTLE: Duration = Duration::from_millis(500);
/// Message ids remembered so that history replayed after a reconnect is not printed twice.
const SEEN_IDS: usize = 10_000;

/// Whether a message is printed for the first time; a classic message has no id, and each is.
fn first_time(seen: &mut SeenIds, id: &str) -> bool {
    id.is_empty() || seen.insert(id)
}

pub struct Options {
    pub login: LoginOptions,
    pub room: String,
    pub json: bool,
}

/// One received message as a line of output.
pub fn format_message(msg: &ChatMessage, handshake_room: &str, json: bool) -> String {
    if json {
        return serde_json::to_string(msg).unwrap_or_default();
    }
    let room = if msg.room.is_empty() { handshake_room } else { &msg.room };
    format!("[{}] {}: {}", clean(room), clean(&msg.username), clean(&msg.message))
}

/// A server notice as a line of output: `[room] * text`.
pub fn format_notice(notice: &SystemMessage, handshake_room: &str) -> String {
    let room = if notice.room.is_empty() { handshake_room } else { &notice.room };
    format!("[{}] * {}", clean(room), clean(&notice.message))
}

/// Control characters escaped, so a message cannot drive the terminal.
fn clean(s: &str) -> String {
    s.chars().flat_map(|c| if c.is_control() { c.escape_default().collect() } else { vec![c] }).collect()
}

/// Reads stdin on a plain thread: a blocked read of tokio's stdin would keep the runtime
/// from shutting down.
fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn print(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) is the reader's choice, not our error.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

pub async fn run(opts: Options, session: Session, store: TokenStore) -> ExitCode {
    let server = opts.login.server.clone();
    let mut net =
        Net::spawn(NetConfig { server: server.clone(), room: opts.room.clone(), token: session.token });
    let mut username = session.username;
    let mut lines = stdin_lines();
    let mut stdin_open = true;
    let mut pending = HashSet::new();
    let mut seen = SeenIds::new(SEEN_IDS);
    let mut next_id = 0u64;
    let mut ever_connected = false;
    let mut relogged = false;
    let mut failed = false;
    let mut heard = tokio::time::Instant::now();
    let code = loop {
        let done = !stdin_open && pending.is_empty() && ever_connected;
        if done && heard.elapsed() >= SETTLE {
            break if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS };
        }
        tokio::select! {
            _ = tokio::time::sleep_until(heard + SETTLE), if done => {}
            line = lines.recv(), if stdin_open => match line {
                Some(text) if text.trim().is_empty() => {}
                Some(text) => {
                    next_id += 1;
                    pending.insert(next_id);
                    net.send(NetCommand::SendMessage { local_id: next_id, room: opts.room.clone(), text, action: false });
                }
                None => stdin_open = false,
            },
            event = net.events.recv() => match event {
                None => break ExitCode::FAILURE,
                Some(NetEvent::Message(msg)) => {
                    heard = tokio::time::Instant::now();
                    if first_time(&mut seen, &msg.id) {
                        print(&format_message(&msg, &opts.room, opts.json));
                    }
                }
                Some(NetEvent::Connected { .. }) => {
                    ever_connected = true;
                    heard = tokio::time::Instant::now();
                    eprintln!("connected to {server} as {username} in #{}", opts.room);
                }
                // Notices go to stderr: stdout stays one line per chat message, for scripts.
                Some(NetEvent::Notice(notice)) => eprintln!("{}", format_notice(&notice, &opts.room)),
                Some(NetEvent::ServerError(message)) => eprintln!("error: {message}"),
                Some(NetEvent::MessageAck { local_id, outcome }) => {
                    pending.remove(&local_id);
                    if let AckOutcome::Failed(error) = outcome {
                        eprintln!("error: {error}");
                        failed = true;
                    }
                }
                Some(NetEvent::Rejected { message }) => {
                    let can_login = opts.login.username.is_some() && std::env::var_os(PASSWORD_ENV).is_some();
                    if is_auth_failure(&message) && can_login && !relogged {
                        relogged = true;
                        match auth::login(&opts.login, &store).await {
                            Ok(session) => {
                                username = session.username;
                                net.send(NetCommand::Reauth(session.token));
                                continue;
                            }
                            Err(e) => eprintln!("{e}"),
                        }
                    }
                    eprintln!("rejected: {message}");
                    break ExitCode::from(2);
                }
                Some(NetEvent::Reconnecting { attempt, delay, reason }) => {
                    eprintln!("reconnecting (attempt {attempt}, next try in {} s): {reason}", delay.as_secs());
                    if !ever_connected && attempt > MAX_FIRST_ATTEMPTS {
                        eprintln!("cannot connect to {server}");
                        break ExitCode::FAILURE;
                    }
                }
                Some(NetEvent::Gap(_)) => eprintln!("{}", crate::app::GAP_NOTICE),
                // Direct messages print as from a room named after the other person.
                Some(NetEvent::Direct(msg)) => {
                    let peer = if msg.username == username { msg.to.clone().unwrap_or_default() } else { msg.username.clone() };
                    let msg = ChatMessage { room: format!("{}{peer}", crate::net::QUERY_PREFIX), ..msg };
                    if first_time(&mut seen, &msg.id) {
                        print(&format_message(&msg, &opts.room, opts.json));
                    }
                }
                Some(
                    NetEvent::Connecting
                    | NetEvent::Joined { .. }
                    | NetEvent::Left { .. }
                    | NetEvent::UserInfo { .. }
                    | NetEvent::Presence(_)
                    | NetEvent::Typing(_)
                    | NetEvent::Members { .. }
                    | NetEvent::History { .. }
                    | NetEvent::SearchResults { .. },
                ) => {}
            },
        }
    };
    net.shutdown().await;
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(room: &str, text: &str) -> ChatMessage {
        ChatMessage {
            username: "bob".into(),
            message: text.into(),
            room: room.into(),
            sent: "2026-11-25T12:00:00.000Z".into(),
            id: "m1".into(),
            replayed: false,
            ..Default::default()
        }
    }

    #[test]
    fn text_lines_name_the_room_and_escape_control_characters() {
        assert_eq!(format_message(&msg("dev", "hi 你好"), "public", false), "[dev] bob: hi 你好");
        assert_eq!(format_message(&msg("", "classic"), "public", false), "[public] bob: classic");
        assert_eq!(
            format_message(&msg("dev", "two\nlines\u{1b}"), "public", false),
            "[dev] bob: two\\nlines\\u{1b}"
        );
        let notice = SystemMessage {
            message: "User \"bob\" joined\u{7}".into(),
            room: String::new(),
            sent: String::new(),
            ..SystemMessage::default()
        };
        assert_eq!(format_notice(&notice, "public"), "[public] * User \"bob\" joined\\u{7}");
    }

    #[test]
    fn repeated_ids_are_seen_once_within_a_bounded_memory() {
        let mut seen = SeenIds::new(SEEN_IDS);
        assert!(first_time(&mut seen, "a"));
        assert!(!first_time(&mut seen, "a"));
        assert!(first_time(&mut seen, "") && first_time(&mut seen, ""), "classic messages have no id");
        for i in 0..SEEN_IDS {
            first_time(&mut seen, &i.to_string());
        }
        assert_eq!(seen.set.len(), SEEN_IDS);
        assert!(first_time(&mut seen, "a"), "the oldest id was forgotten");
    }

    #[test]
    fn json_lines_are_the_payload() {
        let line = format_message(&msg("dev", "hi"), "public", true);
        let back: ChatMessage = serde_json::from_str(&line).expect("json");
        assert_eq!(back, msg("dev", "hi"));
    }
}
