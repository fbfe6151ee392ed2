//! A raw Engine.IO v4 / Socket.IO v5 client over one websocket, as small as the load needs: the
//! handshake (`0{…}` open, `40{auth}` connect), pings answered with pongs, `42[…]` events in and
//! out. Its cost per message is a frame read and a substring search, so the server under test,
//! not the bench, is what runs out of CPU.
//!
//! The packet formats are the protocols' own: <https://socket.io/docs/v4/engine-io-protocol/>
//! and <https://socket.io/docs/v4/socket-io-protocol/>.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use shared::{defaults::ROOM_QUERY_KEY, payload::HandshakeAuth};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async_with_config,
    tungstenite::{self, Message},
};

/// One connected Socket.IO client.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a connection did not become a Socket.IO session.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The websocket could not be opened (refused, reset, HTTP error).
    #[error("websocket: {0}")]
    Websocket(#[from] tungstenite::Error),
    /// The server answered the CONNECT with CONNECT_ERROR (`44{"message": …}`).
    #[error("refused: {0}")]
    Refused(String),
    /// Something else than the protocol's next packet, or the connection ended.
    #[error("protocol: {0}")]
    Protocol(String),
    /// No answer within the handshake timeout.
    #[error("timed out")]
    Timeout,
}

/// How long the whole handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The websocket URL of a server's Socket.IO endpoint for `room` (`http://h:p` → `ws://h:p/…`).
pub fn socket_url(base: &str, room: &str) -> String {
    let base = base.trim_end_matches('/');
    let ws = base.replacen("http", "ws", 1);
    format!("{ws}/socket.io/?EIO=4&transport=websocket&{ROOM_QUERY_KEY}={room}")
}

/// Opens a websocket to `url` (from [`socket_url`]), with Nagle off as a browser has it, and
/// completes the Socket.IO handshake with `token` in the CONNECT packet's auth.
pub async fn connect(url: &str, token: &str) -> Result<Socket, ConnectError> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(url, token)).await.map_err(|_| ConnectError::Timeout)?
}

async fn handshake(url: &str, token: &str) -> Result<Socket, ConnectError> {
    let (mut ws, _) = connect_async_with_config(url, None, true).await?;
    match next_text(&mut ws).await? {
        open if open.starts_with('0') => {}
        other => return Err(ConnectError::Protocol(format!("expected the open packet, got {other:?}"))),
    }
    let auth = HandshakeAuth { token: Some(token.to_owned()) };
    ws.send(Message::text(format!("40{}", json!(auth)))).await?;
    loop {
        let packet = next_text(&mut ws).await?;
        if packet.starts_with("40") {
            return Ok(ws);
        } else if let Some(error) = packet.strip_prefix("44") {
            let message = serde_json::from_str::<serde_json::Value>(error)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| error.to_owned());
            return Err(ConnectError::Refused(message));
        } else if packet == "2" {
            ws.send(Message::text("3")).await?;
        } else {
            return Err(ConnectError::Protocol(format!("expected CONNECT, got {packet:?}")));
        }
    }
}

async fn next_text(ws: &mut Socket) -> Result<String, ConnectError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
            Some(Ok(Message::Close(frame))) => {
                return Err(ConnectError::Protocol(format!("closed by the server: {frame:?}")));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => return Err(ConnectError::Protocol("connection ended".into())),
        }
    }
}

/// The text of a `chat.message` event carrying `message`, as a frame.
pub fn chat_message(message: &str) -> Message {
    Message::text(format!("42{}", json!([shared::events::CHAT_MESSAGE, message])))
}

/// What an incoming text frame is, to the bench.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// An Engine.IO ping: answer with [`pong`].
    Ping,
    /// A `chat.message` event whose `message` field starts with `prefix`: that field's text.
    Marked(&'a str),
    /// The server closed the Socket.IO session (`41`) or the Engine.IO one (`1`).
    Closed,
    /// Anything else (notices, history replays, other events).
    Other,
}

/// An Engine.IO pong frame.
pub fn pong() -> Message {
    Message::text("3")
}

/// Classifies a text frame without parsing JSON: the bench's marked messages are found by the
/// `"message":"<prefix>` they contain, and history replays (`"replayed":true`) are skipped.
pub fn classify<'a>(frame: &'a str, prefix: &str) -> Incoming<'a> {
    match frame.as_bytes().first() {
        Some(b'2') if frame.len() == 1 => Incoming::Ping,
        Some(b'1') => Incoming::Closed,
        Some(b'4') if frame.starts_with("41") => Incoming::Closed,
        Some(b'4') if frame.starts_with("42") => {
            if frame.contains("\"replayed\":true") {
                return Incoming::Other;
            }
            let key = "\"message\":\"";
            let Some(at) = frame.find(key) else { return Incoming::Other };
            let text = &frame[at + key.len()..];
            if !text.starts_with(prefix) {
                return Incoming::Other;
            }
            match text.find('"') {
                Some(end) => Incoming::Marked(&text[..end]),
                None => Incoming::Other,
            }
        }
        _ => Incoming::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_frames_follow_the_protocols() {
        assert_eq!(
            socket_url("http://127.0.0.1:3000/", "r1"),
            "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket&room=r1"
        );
        assert_eq!(chat_message("hi \"x\"").to_text().unwrap(), r#"42["chat.message","hi \"x\""]"#);
    }

    #[test]
    fn frames_are_classified_without_parsing() {
        assert_eq!(classify("2", "cb|"), Incoming::Ping);
        assert_eq!(classify("41", "cb|"), Incoming::Closed);
        let chat = r#"42["chat.message",{"username":"a","message":"cb|1|2|3|4","room":"r"}]"#;
        assert_eq!(classify(chat, "cb|"), Incoming::Marked("cb|1|2|3|4"));
        let replayed = r#"42["chat.message",{"username":"a","message":"cb|1|2|3|4","replayed":true}]"#;
        assert_eq!(classify(replayed, "cb|"), Incoming::Other);
        assert_eq!(classify(r#"42["chat.message",{"message":"hello"}]"#, "cb|"), Incoming::Other);
        assert_eq!(classify(r#"42["error","x"]"#, "cb|"), Incoming::Other);
    }
}
