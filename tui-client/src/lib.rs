//! `chat-tui`: a terminal client for chat-server, in the spirit of weechat, irssi and iamb.
//!
//! Layout, key → action → state → render: [`keymap`] turns keys into [`action::Action`]s,
//! [`app`] holds the state and its pure `update` ([`event::Event`]s in, [`event::Effect`]s
//! out; [`scrollback`] is a room's lines), [`ui`] draws it (one file per pane), and the loops
//! around it do the I/O: [`interactive`] (the full screen) and [`plain`] (the line mode for
//! scripts). Beside them: [`net`] (the task owning the Socket.IO connection, behind
//! [`net::Net`]), [`auth`] (HTTP login and the token file), [`login_form`], [`commands`]
//! (slash commands), [`input`] (the line editor), [`config`] (the config file), [`wrap`]
//! (text widths and wrapping) and [`tui`] (terminal setup and restore).

pub mod action;
pub mod app;
pub mod auth;
pub mod commands;
pub mod config;
pub mod event;
pub mod input;
pub mod interactive;
pub mod keymap;
pub mod login_form;
pub mod net;
#[cfg(test)]
mod never_panics;
pub mod plain;
pub mod scrollback;
pub mod tui;
pub mod ui;
pub mod wrap;
