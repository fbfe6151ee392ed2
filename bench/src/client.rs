//! A raw Engine.IO v4 / Socket.IO v5 client over one websocket, as small as the load needs: the
//! HTTP upgrade, the handshake (`0{…}` open, `40{auth}` connect), pings answered with pongs, and
//! `42[…]` events in and out. Frames are parsed in place from one read buffer, so a delivery
//! costs the bench a few hundred nanoseconds and the server under test, not the bench, is what
//! runs out of CPU. (A websocket library with its own buffers and a string per message cost
//! the bench as much CPU as the server.)
//!
//! Or over HTTP long-polling ([`Transport::Polling`], as a browser behind a proxy that drops
//! websockets): a task per client keeps one GET pending and hands each payload's packets
//! (separated by `\x1e`) to [`Socket::fill`]; sends are POSTs. Costlier for the bench (reqwest
//! and a string per packet), so watch its CPU column.
//!
//! Formats: RFC 6455 (websocket framing: the client masks what it sends, the server does not),
//! <https://socket.io/docs/v4/engine-io-protocol/> and
//! <https://socket.io/docs/v4/socket-io-protocol/>.

use std::{collections::VecDeque, io, sync::OnceLock, time::Duration};

use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::{defaults::ROOM_QUERY_KEY, payload::HandshakeAuth};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::mpsc,
    task::JoinHandle,
};

/// How long the whole handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes read at a time (and the least free room kept in the buffer).
const READ_CHUNK: usize = 64 * 1024;
/// Largest frame the bench accepts: more is a broken server.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Why a connection did not become a Socket.IO session.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The URL is not `http://host:port`.
    #[error("bad server URL {0}")]
    Url(String),
    /// The server answered the CONNECT with CONNECT_ERROR (`44{"message": …}`).
    #[error("refused: {0}")]
    Refused(String),
    /// Something else than the protocol's next step, or the connection ended.
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("timed out")]
    Timeout,
}

/// One websocket frame from the server, borrowed from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Text(&'a str),
    /// A websocket ping, whose payload the pong must echo.
    Ping(&'a [u8]),
    Close,
    /// Binary, pong or continuation frames: nothing the bench needs.
    Other,
}

/// The Engine.IO transport a client uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// One websocket per client, from the first request (what socket.io-client does with
    /// `transports: ["websocket"]`).
    #[default]
    Websocket,
    /// HTTP long-polling only: one GET pending per client, a POST per message.
    Polling,
}

/// One connected client, on either transport.
pub enum Socket {
    Websocket(WsSocket),
    Polling(PollingSocket),
}

/// A websocket client: a TCP stream and its read buffer.
pub struct WsSocket {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    out: Vec<u8>,
}

/// `host:port` and the Socket.IO path of a server's base URL for `room`.
pub fn socket_target(base: &str, room: &str) -> Result<(String, String), ConnectError> {
    let rest =
        base.trim_end_matches('/').strip_prefix("http://").ok_or_else(|| ConnectError::Url(base.into()))?;
    if rest.is_empty() || rest.contains('/') {
        return Err(ConnectError::Url(base.into()));
    }
    Ok((rest.to_owned(), format!("/socket.io/?EIO=4&transport=websocket&{ROOM_QUERY_KEY}={room}")))
}

/// Connects to `base` (an `http://host:port` URL) for `room` over `transport` (a websocket with
/// Nagle off, as a browser has it), and completes the Socket.IO handshake with `token` in the
/// CONNECT packet's auth.
pub async fn connect(
    base: &str,
    room: &str,
    token: &str,
    transport: Transport,
) -> Result<Socket, ConnectError> {
    let (host, path) = socket_target(base, room)?;
    let handshake = async {
        Ok(match transport {
            Transport::Websocket => Socket::Websocket(handshake(&host, &path, token).await?),
            Transport::Polling => Socket::Polling(PollingSocket::handshake(&host, &path, token).await?),
        })
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await.map_err(|_| ConnectError::Timeout)?
}

/// What a CONNECT answer (`40…` or `44{"message": …}`) says.
fn connect_answer(packet: &str) -> Result<(), ConnectError> {
    if packet.starts_with("40") {
        Ok(())
    } else if let Some(error) = packet.strip_prefix("44") {
        let message = serde_json::from_str::<serde_json::Value>(error)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| error.to_owned());
        Err(ConnectError::Refused(message))
    } else {
        Err(ConnectError::Protocol(format!("expected CONNECT, got {packet:?}")))
    }
}

/// The CONNECT packet's text.
fn connect_packet(token: &str) -> String {
    format!("40{}", json!(HandshakeAuth { token: Some(token.to_owned()), after: None }))
}

async fn handshake(host: &str, path: &str, token: &str) -> Result<WsSocket, ConnectError> {
    let stream = TcpStream::connect(host).await?;
    stream.set_nodelay(true)?;
    let mut ws =
        WsSocket { stream, buf: vec![0; READ_CHUNK * 2], start: 0, end: 0, out: Vec::with_capacity(256) };
    // The key must be 16 bytes in base64 (Node's ws checks); the bench does not check the accept hash.
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: Y2hhdC1iZW5jaC1rZXktMQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    ws.stream.write_all(request.as_bytes()).await?;
    let head_end = loop {
        if let Some(at) = ws.buffered().windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if ws.fill().await? == 0 {
            return Err(ConnectError::Protocol("closed during the upgrade".into()));
        }
    };
    let head = String::from_utf8_lossy(&ws.buffered()[..head_end]).into_owned();
    if !head.starts_with("HTTP/1.1 101") {
        return Err(ConnectError::Protocol(format!(
            "upgrade refused: {}",
            head.lines().next().unwrap_or_default()
        )));
    }
    ws.start += head_end;

    match ws.next_text().await?.as_bytes().first() {
        Some(b'0') => {}
        _ => return Err(ConnectError::Protocol("expected the Engine.IO open packet".into())),
    }
    ws.send_text(&connect_packet(token)).await?;
    loop {
        let packet = ws.next_text().await?;
        if packet == "2" {
            ws.send_text("3").await?;
        } else {
            return connect_answer(&packet).map(|()| ws);
        }
    }
}

impl Socket {
    /// Reads what the server has sent (waiting for something); `Ok(0)` once the connection is
    /// over. Cancel-safe: nothing read is lost if the future is dropped.
    pub async fn fill(&mut self) -> io::Result<usize> {
        match self {
            Self::Websocket(ws) => ws.fill().await,
            Self::Polling(polling) => Ok(polling.fill().await),
        }
    }

    /// The next complete frame read; `None` until more is read. A long-polling packet is a
    /// text frame.
    ///
    /// # Errors
    /// A frame the server may not send (masked, fragmented text, bigger than 16 MiB, not UTF-8).
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, ConnectError> {
        match self {
            Self::Websocket(ws) => ws.next_frame(),
            Self::Polling(polling) => Ok(polling.next_frame()),
        }
    }

    /// Sends one Engine.IO packet (a text frame, or a POST).
    pub async fn send_text(&mut self, text: &str) -> io::Result<()> {
        match self {
            Self::Websocket(ws) => ws.send_text(text).await,
            Self::Polling(polling) => polling.send(text).await,
        }
    }

    /// Answers a websocket ping (long-polling has none).
    pub async fn send_pong(&mut self, payload: &[u8]) -> io::Result<()> {
        match self {
            Self::Websocket(ws) => ws.send_pong(payload).await,
            Self::Polling(_) => Ok(()),
        }
    }

    /// Ends the session: a websocket close frame, or an Engine.IO close packet.
    pub async fn close(self) {
        match self {
            Self::Websocket(ws) => ws.close().await,
            Self::Polling(polling) => polling.close().await,
        }
    }
}

/// Every long-polling client's HTTP connections, in one pool. No overall timeout: a GET is held
/// until the server has something, at most its ping interval (25 s).
fn http() -> &'static reqwest::Client {
    static HTTP: OnceLock<reqwest::Client> = OnceLock::new();
    HTTP.get_or_init(reqwest::Client::new)
}

/// A long-polling client: its session's URL, the packets read and not yet taken, and the task
/// that keeps a GET pending.
pub struct PollingSocket {
    url: String,
    payloads: mpsc::Receiver<String>,
    pending: VecDeque<String>,
    current: String,
    poller: JoinHandle<()>,
}

impl PollingSocket {
    async fn handshake(host: &str, path: &str, token: &str) -> Result<Self, ConnectError> {
        let path = path.replace("transport=websocket", "transport=polling");
        let open = get(&format!("http://{host}{path}")).await?;
        let sid = open
            .strip_prefix('0')
            .and_then(|json| serde_json::from_str::<serde_json::Value>(json).ok())
            .and_then(|v| v["sid"].as_str().map(str::to_owned))
            .ok_or_else(|| {
                ConnectError::Protocol(format!("expected the Engine.IO open packet, got {open:?}"))
            })?;
        let url = format!("http://{host}{path}&sid={sid}");
        post(&url, &connect_packet(token)).await?;
        // The CONNECT answer may come after a ping and before other packets, in one payload.
        let mut pending: VecDeque<String> = VecDeque::new();
        loop {
            match pending.pop_front() {
                Some(ping) if ping == "2" => post(&url, "3").await?,
                Some(packet) => break connect_answer(&packet)?,
                None => pending.extend(get(&url).await?.split('\x1e').map(str::to_owned)),
            }
        }
        let (to_socket, payloads) = mpsc::channel(64);
        let poll_url = url.clone();
        let poller = tokio::spawn(async move {
            // Ends when the server ends the session (an error status, a close packet) or the
            // socket is dropped.
            while let Ok(payload) = get(&poll_url).await {
                let closed = payload.split('\x1e').any(|p| p == "1");
                if to_socket.send(payload).await.is_err() || closed {
                    break;
                }
            }
        });
        Ok(Self { url, payloads, pending, current: String::new(), poller })
    }

    async fn fill(&mut self) -> usize {
        match self.payloads.recv().await {
            Some(payload) => {
                self.pending.extend(payload.split('\x1e').map(str::to_owned));
                payload.len().max(1)
            }
            None => 0,
        }
    }

    fn next_frame(&mut self) -> Option<Frame<'_>> {
        self.current = self.pending.pop_front()?;
        Some(Frame::Text(&self.current))
    }

    async fn send(&self, text: &str) -> io::Result<()> {
        post(&self.url, text).await.map_err(io::Error::other)
    }

    async fn close(self) {
        let _ = post(&self.url, "1").await;
        self.poller.abort();
    }
}

impl Drop for PollingSocket {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// A long-polling GET: the payload's text.
async fn get(url: &str) -> Result<String, ConnectError> {
    let response = http().get(url).send().await.map_err(|e| ConnectError::Protocol(e.to_string()))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| ConnectError::Protocol(e.to_string()))?;
    if !status.is_success() {
        return Err(ConnectError::Protocol(format!("GET answered {status}: {body}")));
    }
    Ok(body)
}

/// A long-polling POST of one packet.
async fn post(url: &str, packet: &str) -> Result<(), ConnectError> {
    let response = http()
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "text/plain;charset=UTF-8")
        .body(packet.to_owned())
        .send()
        .await
        .map_err(|e| ConnectError::Protocol(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(ConnectError::Protocol(format!("POST answered {status}: {body}")));
    }
    Ok(())
}

impl WsSocket {
    fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads what the kernel has (waiting for at least one byte); `Ok(0)` at the end of the
    /// stream. Cancel-safe: nothing read is lost if the future is dropped.
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.buf.len() - self.end < READ_CHUNK {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
            if self.buf.len() - self.end < READ_CHUNK {
                self.buf.resize(self.end + READ_CHUNK, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    /// The next complete frame in the buffer; `None` until more is read.
    ///
    /// # Errors
    /// A frame the server may not send (masked, fragmented text, bigger than 16 MiB, not UTF-8).
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, ConnectError> {
        let Some((opcode, payload)) = parse_frame(self.buffered())? else { return Ok(None) };
        let (from, to) = (self.start + payload.0, self.start + payload.1);
        self.start = to;
        let payload = &self.buf[from..to];
        Ok(Some(match opcode {
            0x1 => {
                Frame::Text(std::str::from_utf8(payload).map_err(|e| ConnectError::Protocol(e.to_string()))?)
            }
            0x8 => Frame::Close,
            0x9 => Frame::Ping(payload),
            _ => Frame::Other,
        }))
    }

    async fn next_text(&mut self) -> Result<String, ConnectError> {
        loop {
            match self.next_frame()? {
                Some(Frame::Text(text)) => return Ok(text.to_owned()),
                Some(Frame::Close) => return Err(ConnectError::Protocol("closed by the server".into())),
                Some(_) => continue,
                None => {
                    if self.fill().await? == 0 {
                        return Err(ConnectError::Protocol("connection ended".into()));
                    }
                }
            }
        }
    }

    /// Sends one text frame (masked, as RFC 6455 requires of clients; with a zero key, which
    /// leaves the bytes as they are: nothing here needs protecting from proxies' caches).
    pub async fn send_text(&mut self, text: &str) -> io::Result<()> {
        self.send_frame(0x1, text.as_bytes()).await
    }

    /// Answers a websocket ping.
    pub async fn send_pong(&mut self, payload: &[u8]) -> io::Result<()> {
        self.send_frame(0xA, payload).await
    }

    async fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        self.out.clear();
        self.out.push(0x80 | opcode);
        match payload.len() {
            n @ 0..=125 => self.out.push(0x80 | n as u8),
            n @ 126..=0xFFFF => {
                self.out.push(0x80 | 126);
                self.out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                self.out.push(0x80 | 127);
                self.out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        self.out.extend_from_slice(&[0; 4]);
        self.out.extend_from_slice(payload);
        self.stream.write_all(&self.out).await
    }

    /// Sends a websocket close frame and ends the stream.
    pub async fn close(mut self) {
        let _ = self.send_frame(0x8, &[]).await;
        let _ = self.stream.shutdown().await;
    }
}

/// A frame's opcode and the range of its payload in the buffer.
type FrameAt = (u8, (usize, usize));

/// The opcode and payload range of the first complete frame of `buf`, if it holds one.
fn parse_frame(buf: &[u8]) -> Result<Option<FrameAt>, ConnectError> {
    let [b0, b1, ..] = *buf else { return Ok(None) };
    let (fin, opcode) = (b0 & 0x80 != 0, b0 & 0x0F);
    if b1 & 0x80 != 0 {
        return Err(ConnectError::Protocol("the server masked a frame".into()));
    }
    if !fin || opcode == 0 {
        return Err(ConnectError::Protocol("fragmented frames are not expected".into()));
    }
    let (len, header) = match b1 & 0x7F {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => {
            let len = u64::from_be_bytes(buf[2..10].try_into().unwrap_or_default());
            (usize::try_from(len).unwrap_or(usize::MAX), 10)
        }
        126 | 127 => return Ok(None),
        n => (n as usize, 2),
    };
    if len > MAX_FRAME {
        return Err(ConnectError::Protocol(format!("a frame of {len} bytes")));
    }
    Ok((buf.len() >= header + len).then_some((opcode, (header, header + len))))
}

/// The text of a `chat.message` event carrying `message`.
pub fn chat_message(message: &str) -> String {
    format!("42{}", json!([shared::events::CHAT_MESSAGE, message]))
}

/// What an incoming text frame is, to the bench.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// An Engine.IO ping: answer `3`.
    Ping,
    /// A `chat.message` event whose `message` field starts with the run's prefix: that text.
    Marked(&'a str),
    /// The server closed the Socket.IO session (`41`) or the Engine.IO one (`1`).
    Closed,
    /// Anything else (notices, history replays, other events).
    Other,
}

/// Classifies a text frame without parsing JSON: the bench's marked messages are found by the
/// `"message":"<prefix>` they contain, and history replays (`"replayed":true`) are skipped.
pub fn classify<'a>(frame: &'a str, prefix: &str) -> Incoming<'a> {
    match frame.as_bytes().first() {
        Some(b'2') if frame.len() == 1 => Incoming::Ping,
        Some(b'1') => Incoming::Closed,
        Some(b'4') if frame.starts_with("41") => Incoming::Closed,
        Some(b'4') if frame.starts_with("42") => {
            let key = "\"message\":\"";
            let Some(at) = frame.find(key) else { return Incoming::Other };
            let text = &frame[at + key.len()..];
            if !text.starts_with(prefix) || frame.contains("\"replayed\":true") {
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
    fn targets_and_events_follow_the_protocols() {
        let (host, path) = socket_target("http://127.0.0.1:3000/", "r1").unwrap();
        assert_eq!(
            (host.as_str(), path.as_str()),
            ("127.0.0.1:3000", "/socket.io/?EIO=4&transport=websocket&room=r1")
        );
        assert!(socket_target("https://example.com", "r").is_err());
        assert_eq!(chat_message("hi \"x\""), r#"42["chat.message","hi \"x\""]"#);
    }

    #[test]
    fn frames_are_parsed_in_place_whatever_their_length() {
        assert_eq!(parse_frame(&[0x81]).unwrap(), None);
        assert_eq!(parse_frame(&[0x81, 2, b'h', b'i', 0x81]).unwrap(), Some((1, (2, 4))));
        let mut long = vec![0x81, 126, 0x01, 0x00];
        long.extend(vec![b'a'; 256]);
        assert_eq!(parse_frame(&long[..100]).unwrap(), None);
        assert_eq!(parse_frame(&long).unwrap(), Some((1, (4, 260))));
        assert_eq!(parse_frame(&[0x88, 0]).unwrap(), Some((8, (2, 2))));
        assert!(parse_frame(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']).is_err(), "masked by the server");
        assert!(parse_frame(&[0x01, 1, b'h']).is_err(), "fragmented");
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
