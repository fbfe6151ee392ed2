//! Slash commands: `/join`, `/leave`, `/info`, … parsed from the input line.

use thiserror::Error;

/// What the user asked for on the input line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A chat message (plain text, or `//text` to send a line that starts with `/`).
    Say(String),
    /// `/me waves`: an action.
    Me(String),
    /// Who is in this room.
    Names,
    Join(String),
    /// Leave the named room, or the current one.
    Leave(Option<String>),
    /// Who is behind a socket id.
    Info(String),
    Clear,
    /// Connect again now, without waiting for the backoff.
    Reconnect,
    /// Search the room's whole history on the server (`chat.search`).
    Search(String),
    /// `/msg bob hello`: a direct message, in bob's query window.
    Msg {
        to: String,
        text: String,
    },
    /// `/query bob`: open bob's query window.
    Query(String),
    /// Show or hide the member list pane.
    Members,
    Login,
    Logout,
    Quit,
    Help,
}

/// A one-line hint for the status of a mistyped command.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandError {
    #[error("Unknown command /{0}; /help lists the commands")]
    Unknown(String),
    #[error("Usage: {0}")]
    Usage(&'static str),
    #[error("{0}")]
    InvalidRoom(String),
}

/// Commands and what they do, for `/help`.
pub const HELP: &[(&str, &str)] = &[
    ("/join <room>", "join a room (and switch to it)"),
    ("/leave [room]", "leave a room (default: this one)"),
    ("/me <action>", "say what you do: * you waves"),
    ("/names", "list who is in this room"),
    ("/info <socketId>", "show who is behind a socket id"),
    ("/clear", "clear this room's messages"),
    ("/reconnect", "connect again now (while reconnecting)"),
    ("/search <text>", "search this room's whole history on the server (Ctrl-R: in the scrollback)"),
    ("/msg <user> <text>", "a direct message, in a query window (/query <user> opens one)"),
    ("/members", "show or hide the member list (F2)"),
    ("/login", "log in again (e.g. after the token expired)"),
    ("/logout", "forget the stored login and quit"),
    ("/quit", "quit"),
    ("/help", "show this help"),
    ("//text", "send a message that starts with /"),
];

/// Parses one input line. Lines not starting with `/` are messages.
pub fn parse(line: &str) -> Result<Command, CommandError> {
    let Some(rest) = line.strip_prefix('/') else {
        return Ok(Command::Say(line.to_owned()));
    };
    if rest.starts_with('/') {
        return Ok(Command::Say(rest.to_owned()));
    }
    let mut words = rest.split_whitespace();
    let name = words.next().unwrap_or_default();
    let args: Vec<&str> = words.collect();
    let no_args =
        |cmd: Command, usage| if args.is_empty() { Ok(cmd) } else { Err(CommandError::Usage(usage)) };
    match name {
        "join" | "j" => match args.as_slice() {
            [room] => room_name(room).map(Command::Join),
            _ => Err(CommandError::Usage("/join <room>")),
        },
        "leave" | "part" => match args.as_slice() {
            [] => Ok(Command::Leave(None)),
            [room] => room_name(room).map(|r| Command::Leave(Some(r))),
            _ => Err(CommandError::Usage("/leave [room]")),
        },
        "info" | "whois" => match args.as_slice() {
            [sid] => Ok(Command::Info((*sid).to_owned())),
            _ => Err(CommandError::Usage("/info <socketId>")),
        },
        "msg" | "m" => match rest.split_once(char::is_whitespace).map(|(_, a)| a.trim_start()) {
            Some(args) => match args.split_once(char::is_whitespace) {
                Some((to, text)) if !text.trim().is_empty() => {
                    Ok(Command::Msg { to: to.to_owned(), text: text.trim().to_owned() })
                }
                _ => Err(CommandError::Usage("/msg <user> <text>")),
            },
            None => Err(CommandError::Usage("/msg <user> <text>")),
        },
        "query" => match args.as_slice() {
            [user] => Ok(Command::Query((*user).to_owned())),
            _ => Err(CommandError::Usage("/query <user>")),
        },
        "members" => no_args(Command::Members, "/members"),
        "me" => match rest.split_once(char::is_whitespace).map(|(_, a)| a.trim()) {
            Some(action) if !action.is_empty() => Ok(Command::Me(action.to_owned())),
            _ => Err(CommandError::Usage("/me <action>")),
        },
        "names" | "who" => no_args(Command::Names, "/names"),
        "clear" => no_args(Command::Clear, "/clear"),
        "reconnect" => no_args(Command::Reconnect, "/reconnect"),
        "search" | "find" => match rest.split_once(char::is_whitespace).map(|(_, q)| q.trim()) {
            Some(query) if !query.is_empty() => Ok(Command::Search(query.to_owned())),
            _ => Err(CommandError::Usage("/search <text>")),
        },
        "login" => no_args(Command::Login, "/login"),
        "logout" => no_args(Command::Logout, "/logout"),
        "quit" | "exit" | "q" => no_args(Command::Quit, "/quit"),
        "help" | "h" | "?" => no_args(Command::Help, "/help"),
        other => Err(CommandError::Unknown(other.to_owned())),
    }
}

/// Accepts `#room` as well as `room`, then applies the protocol's room rule: the name in its
/// normal form.
pub fn room_name(arg: &str) -> Result<String, CommandError> {
    let name = arg.strip_prefix('#').unwrap_or(arg);
    shared::validate::room(name).map_err(CommandError::InvalidRoom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_escapes() {
        assert_eq!(parse("hello"), Ok(Command::Say("hello".into())));
        assert_eq!(parse("//shrug"), Ok(Command::Say("/shrug".into())));
    }

    #[test]
    fn room_commands() {
        assert_eq!(parse("/join test"), Ok(Command::Join("test".into())));
        assert_eq!(parse("/join #聊天室"), Ok(Command::Join("聊天室".into())));
        assert_eq!(parse("/leave"), Ok(Command::Leave(None)));
        assert_eq!(parse("/leave  dev "), Ok(Command::Leave(Some("dev".into()))));
        assert_eq!(parse("/join"), Err(CommandError::Usage("/join <room>")));
        assert_eq!(parse("/join a b"), Err(CommandError::Usage("/join <room>")));
        assert!(matches!(parse("/join sid:x"), Err(CommandError::InvalidRoom(_))));
    }

    #[test]
    fn other_commands() {
        assert_eq!(parse("/info abc123"), Ok(Command::Info("abc123".into())));
        assert_eq!(parse("/info"), Err(CommandError::Usage("/info <socketId>")));
        assert_eq!(parse("/clear"), Ok(Command::Clear));
        assert_eq!(parse("/me waves  hello"), Ok(Command::Me("waves  hello".into())));
        assert_eq!(parse("/me"), Err(CommandError::Usage("/me <action>")));
        assert_eq!(parse("/names"), Ok(Command::Names));
        assert_eq!(
            parse("/msg bob  hi there "),
            Ok(Command::Msg { to: "bob".into(), text: "hi there".into() })
        );
        assert_eq!(parse("/msg bob"), Err(CommandError::Usage("/msg <user> <text>")));
        assert_eq!(parse("/query bob"), Ok(Command::Query("bob".into())));
        assert_eq!(parse("/members"), Ok(Command::Members));
        assert_eq!(parse("/login"), Ok(Command::Login));
        assert_eq!(parse("/logout"), Ok(Command::Logout));
        assert_eq!(parse("/quit"), Ok(Command::Quit));
        assert_eq!(parse("/help"), Ok(Command::Help));
        assert_eq!(parse("/quit now"), Err(CommandError::Usage("/quit")));
    }

    #[test]
    fn unknown_commands_get_a_hint() {
        let err = parse("/frobnicate x").unwrap_err();
        assert_eq!(err, CommandError::Unknown("frobnicate".into()));
        assert_eq!(err.to_string(), "Unknown command /frobnicate; /help lists the commands");
        assert_eq!(parse("/"), Err(CommandError::Unknown(String::new())));
    }
}
