//! Every error text a client may see. Clients match on some of them (the two auth
//! failures above all), so they are spelled only here.

/// Connect middleware: the handshake's `auth.token` is missing or empty.
pub const AUTH_NO_TOKEN: &str = "Authentication failed: no token provided";
/// Connect middleware: the token is malformed, forged, expired or its user is gone.
pub const AUTH_INVALID_TOKEN: &str = "Authentication failed: invalid token";

/// `chat.message` with an empty (or all-whitespace) text.
pub const MESSAGE_EMPTY: &str = "Message must not be empty";
/// `chat.message` whose arguments are none of `(message)`, `({room, message})` and
/// `(room, message)`, all strings.
pub const MESSAGE_INVALID: &str = "Message must be a string, {room, message} or (room, message)";
/// `chat.message` sent faster than the per-socket rate limit allows.
pub const RATE_LIMITED: &str = "Too many messages: slow down";
/// A message could not be written to the store; nothing was acknowledged.
pub const MESSAGE_NOT_STORED: &str = "Message could not be stored, try again";
/// `chat.join` / `chat.leave` with a payload of the wrong type.
pub const ROOM_INVALID_PAYLOAD: &str = "Room must be a string";
/// `user.info` with a payload that is not one socket id string.
pub const SOCKET_ID_INVALID: &str = "Socket id must be a string";
/// Connect middleware: the address already has the maximum number of connections.
pub const TOO_MANY_CONNECTIONS: &str = "Too many connections from your address";
/// `chat.join` beyond the per-socket room limit.
pub const TOO_MANY_ROOMS: &str = "Too many rooms joined";

/// The text for a message longer than `max` bytes.
pub fn message_too_long(max: usize) -> String {
    format!("Message is too long (max {max} bytes)")
}

/// The text for a `chat.message` aimed at a room the socket is not in.
pub fn not_in_room(room: &str) -> String {
    format!("You are not in room {room}")
}

/// HTTP signup and login: a body whose `Content-Type` is not `application/json` (a plain HTML
/// form on any web page could otherwise create accounts or log in cross-site).
pub const JSON_REQUIRED: &str = "Request body must be application/json";
/// HTTP: username or password missing, mistyped or out of bounds (the detail follows).
pub const INVALID_BODY: &str = "Request body must be JSON {username, password}";
/// HTTP signup: the username exists already.
pub const USERNAME_TAKEN: &str = "Username already taken";
/// HTTP login: unknown user or wrong password (deliberately the same text for both).
pub const INVALID_CREDENTIALS: &str = "Invalid username or password";
/// HTTP: `GET /api/v1/users/{id}` for an id that names no user.
pub const USER_NOT_FOUND: &str = "User not found";
/// HTTP login: too many failures for this username or address.
pub const TOO_MANY_ATTEMPTS: &str = "Too many failed login attempts, try again later";
/// HTTP: too many requests from this address.
pub const TOO_MANY_REQUESTS: &str = "Too many requests, try again later";
/// HTTP and sockets: the store is unreachable or timed out.
pub const SERVICE_UNAVAILABLE: &str = "Service temporarily unavailable, try again";
/// HTTP: an unexpected server-side failure (details go to the log, not the client).
pub const INTERNAL: &str = "Internal server error";
/// HTTP: a route that does not exist.
pub const NOT_FOUND: &str = "Not found";

/// `chat.history` / `chat.search` / `chat.members` / `chat.typing` / `chat.direct` whose
/// arguments are not the documented object (the detail follows).
pub fn invalid_request(event: &str, shape: &str) -> String {
    format!("{event} expects {shape}")
}
/// `chat.direct` or `chat.history {with}` naming a user that does not exist.
pub const NO_SUCH_USER: &str = "No such user";
/// `chat.search` with a blank query.
pub const SEARCH_EMPTY: &str = "Search text must not be empty";
/// A cursor (`before`/`after`) that is not a message id.
pub const INVALID_MESSAGE_ID: &str = "Message id must be 24 hexadecimal digits";
