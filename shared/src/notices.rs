//! The wording of what the server says itself, as `chat.message` without a `username`
//! ([`crate::payload::SystemMessage`]).

/// Sent to a room when a user joins it: on connect (the handshake room) and on every
/// `chat.join`. Chapter 15's wording, so its client shows the same line.
pub fn user_joined(username: &str, room: &str) -> String {
    format!("User \"{username}\" joined room \"{room}\"")
}
