//! What goes into the app ([`Event`]) and what comes out of it ([`Effect`]): the only
//! vocabulary between the pure `App::update` and the loops that do the I/O.

use chrono::{DateTime, Utc};
use shared::api::Credentials;

use crate::{
    action::Action,
    net::{NetCommand, NetEvent},
};

/// Everything that can happen to the app.
#[derive(Debug, Clone)]
pub enum Event {
    Action(Action),
    Net(NetEvent),
    /// Once a second with the time: counts down the reconnect timer and dates our own lines.
    Tick(DateTime<Utc>),
    /// The message pane's size (columns, rows) after a resize.
    Resize {
        width: u16,
        height: u16,
    },
    /// The outcome of an [`Effect::Login`]: the new username, or why it failed.
    LoggedIn(Result<String, String>),
    /// The server answers HTTP, or why not (checked when the login form opens at start).
    Reachable(Result<(), String>),
}

/// What the caller must do after an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Net(NetCommand),
    /// Log in over HTTP (signing up first when asked); on success store the new token (only
    /// then: a failed attempt never drops the old one) and reconnect with it. Answered by
    /// [`Event::LoggedIn`].
    Login {
        credentials: Credentials,
        signup: bool,
    },
    /// Forget the stored token and quit.
    Logout,
    /// A line names the user: ring the bell, notify (as the config file says).
    Alert {
        title: String,
        body: String,
    },
    Quit,
}
