//! The ws transport module is responsible for handling websocket connections
//! The only public function is [`new_req`] which is used to upgrade a http request to a websocket connection
//!
//! Other functions are used internally to handle the websocket connection through tasks and channels
//! and to handle upgrade from polling to ws

use std::sync::{Arc, OnceLock};

use futures_util::{
    FutureExt as _, SinkExt, StreamExt, TryStreamExt,
    future::Either,
    stream::{SplitSink, SplitStream},
};
use http::{HeaderValue, Request, Response, StatusCode, request::Parts};
use smallvec::smallvec;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    time::Instant,
};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        self, Message,
        handshake::derive_accept_key,
        error::CapacityError,
        protocol::{CloseFrame, Role, WebSocketConfig, frame::coding::CloseCode},
    },
};

use engineioxide_core::{Packet, ProtocolVersion, Sid, Str, TransportType};

use crate::{
    DisconnectReason, Socket, body::ResponseBody, config::EngineIoConfig, engine::EngineIo,
    errors::Error, handler::EngineIoHandler, queue::Batch, transport::make_open_packet,
};

/// Create a response for websocket upgrade
fn ws_response<B>(ws_key: &HeaderValue) -> Response<ResponseBody<B>> {
    let derived = derive_accept_key(ws_key.as_bytes());
    let sec = derived.parse::<HeaderValue>().unwrap();
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(http::header::UPGRADE, HeaderValue::from_static("websocket"))
        .header(
            http::header::CONNECTION,
            HeaderValue::from_static("Upgrade"),
        )
        .header(http::header::SEC_WEBSOCKET_ACCEPT, sec)
        .body(ResponseBody::empty_response())
        .unwrap() // we are only using constants
}

/// Upgrade a websocket request to create a websocket connection.
///
/// If a sid is provided in the query it means that is is upgraded from an existing HTTP polling request.
/// In this case the http polling request is closed and the SID is kept for the websocket
pub fn new_req<R: Send + 'static, B, H: EngineIoHandler>(
    engine: Arc<EngineIo<H>>,
    protocol: ProtocolVersion,
    sid: Option<Sid>,
    req: Request<R>,
) -> Result<Response<ResponseBody<B>>, Error> {
    let (parts, body) = req.into_parts();
    let req = Request::from_parts(parts.clone(), body);

    let ws_key = parts
        .headers
        .get("Sec-WebSocket-Key")
        .ok_or(Error::InvalidWebSocketKey)?
        .clone();

    // PATCH (chat): the upgrade and the Engine.IO open run in a boxed future of their own, freed
    // once done, so the task that then reads from the socket for its whole life does not keep
    // the request, its parts and the handshake's state (~0.7 KiB per socket). `then` chains
    // the two as an enum of the boxed open and the reader: an async block awaiting both kept
    // room for the open's output too (a 584-byte future instead of 208, for 200 of reader).
    let opening = engine.clone();
    let open = Box::pin(async move {
        let conn = match hyper::upgrade::on(req).await {
            Ok(conn) => hyper_util::rt::TokioIo::new(conn),
            Err(_e) => {
                #[cfg(feature = "tracing")]
                tracing::debug!("ws upgrade error: {}", _e);
                return Ok(None);
            }
        };
        open_session(&opening, conn, protocol, sid, parts).await.map(Some)
    });
    tokio::spawn(open.then(move |opened| match opened {
        Ok(Some((socket, ws))) => {
            let (rx, close_frame) = start_writer(&engine, &socket, ws);
            Either::Left(read_ws(engine, socket, rx, close_frame))
        }
        Ok(None) => Either::Right(std::future::ready(())),
        Err(e) => {
            open_failed(&engine, sid, e);
            Either::Right(std::future::ready(()))
        }
    }));

    Ok(ws_response(&ws_key))
}

/// Handle a websocket connection upgrade
///
/// Sends an open packet if it is not an upgrade from a polling request
///
/// Read packets from the websocket and handle them, it will block until the connection is closed
#[cfg_attr(
    feature = "tracing",
    tracing::instrument(level = "trace", name = "init_websocket", skip(engine, conn, req_data))
)]
pub async fn on_init<H: EngineIoHandler, S>(
    engine: Arc<EngineIo<H>>,
    conn: S,
    protocol: ProtocolVersion,
    sid: Option<Sid>,
    req_data: Parts,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // PATCH (chat): boxed, see `open_session`.
    let (socket, ws) = Box::pin(open_session(&engine, conn, protocol, sid, req_data)).await?;
    let (rx, close_frame) = start_writer(&engine, &socket, ws);
    read_ws(engine, socket, rx, close_frame).await;
    Ok(())
}

/// PATCH (chat): splits the websocket and spawns the task that writes to it; returns the
/// reading half and the close frame the reader may set for the writer to send.
fn start_writer<H: EngineIoHandler, S>(
    engine: &Arc<EngineIo<H>>,
    socket: &Arc<Socket<H::Data>>,
    ws: WebSocketStream<S>,
) -> (SplitStream<WebSocketStream<S>>, Arc<OnceLock<CloseFrame>>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = ws.split();
    // PATCH (chat): the close frame the writer sends when the reader gives up on the client.
    let close_frame = Arc::new(OnceLock::new());

    // Pipe between websocket and internal socket channel.
    tokio::spawn(forward_to_socket::<H, S>(
        socket.clone(),
        tx,
        close_frame.clone(),
        engine.config.ws_write_delay,
    ));
    (rx, close_frame)
}

/// PATCH (chat): the websocket of session `sid` (`None`: a new session) could not be opened.
fn open_failed<H: EngineIoHandler>(engine: &EngineIo<H>, sid: Option<Sid>, e: Error) {
    match e {
        Error::MultipleWebsocketRequests => {}
        _e => {
            #[cfg(feature = "tracing")]
            tracing::debug!(?sid, "ws closed with error: {_e}");
            if let Some(sid) = sid {
                engine.close_session(sid, DisconnectReason::TransportError);
            }
        }
    }
}

/// Reads from the websocket until it closes, then closes the session (the rest of
/// [`on_init`] once the session is open). PATCH (chat): a function of its own with small
/// arguments, as it lives as long as the socket.
async fn read_ws<H: EngineIoHandler, S>(
    engine: Arc<EngineIo<H>>,
    socket: Arc<Socket<H::Data>>,
    rx: SplitStream<WebSocketStream<S>>,
    close_frame: Arc<OnceLock<CloseFrame>>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // pipe between internal socket channel and websocket
    match socket.cancellation.run(forward_to_handler(&engine, rx, &socket)).await {
        Some(Err(ref e)) => {
            let reason =
                Option::<DisconnectReason>::from(e).unwrap_or(DisconnectReason::TransportError);
            // PATCH (chat): a message above `ws_max_message_size` closes with 1009 and a log
            // line, so the client and the operator learn why (was: no close code, no log).
            if let Error::WsTransport(ws_err) = e {
                if let tungstenite::Error::Capacity(CapacityError::MessageTooLong { size, max_size }) =
                    ws_err.as_ref()
                {
                    #[cfg(feature = "tracing")]
                    tracing::warn!(
                        sid = %socket.id,
                        size,
                        max_size,
                        "websocket message too large: closing the connection with 1009"
                    );
                    close_frame
                        .set(CloseFrame {
                            code: CloseCode::Size,
                            reason: format!("message of {size} bytes exceeds {max_size}").into(),
                        })
                        .ok();
                }
            }

            #[cfg(feature = "tracing")]
            tracing::debug!("error when handling packet: {:?}", e);
            engine.close_session(socket.id, reason);
        }
        Some(Ok(())) => {
            #[cfg(feature = "tracing")]
            tracing::debug!(sid = %socket.id, "ws transport was closed");
            engine.close_session(socket.id, DisconnectReason::TransportClose);
        }
        None => {
            #[cfg(feature = "tracing")]
            tracing::debug!(sid = %socket.id, "socket is closing");
        }
    }
    #[cfg(feature = "tracing")]
    tracing::debug!(sid = %socket.id, "ws closed");
}

/// The part of [`on_init`] that runs once: the websocket handshake and the Engine.IO open or
/// upgrade. PATCH (chat): a function of its own, boxed by the caller, so that its state (the
/// websocket stream before it is split, the handshake futures) is freed once done, instead of
/// sizing the task that then reads from the socket for its whole life (~2.7 KiB per socket).
async fn open_session<H: EngineIoHandler, S>(
    engine: &Arc<EngineIo<H>>,
    conn: S,
    protocol: ProtocolVersion,
    sid: Option<Sid>,
    req_data: Parts,
) -> Result<(Arc<Socket<H::Data>>, WebSocketStream<S>), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(engine.config.ws_read_buffer_size)
        .max_message_size(Some(engine.config.ws_max_message_size))
        .max_frame_size(Some(engine.config.ws_max_frame_size));

    let ws_init = move || WebSocketStream::from_raw_socket(conn, Role::Server, Some(ws_config));
    let (socket, ws) = if let Some(sid) = sid {
        match engine.get_socket(sid) {
            None => return Err(Error::UnknownSessionID(sid)),
            Some(socket) if socket.is_ws() => return Err(Error::MultipleWebsocketRequests),
            Some(socket) => {
                let mut ws = ws_init().await;

                let upgrade_fut = upgrade_handshake::<H, S>(&socket, &mut ws);
                let upgrade = tokio::time::timeout(engine.config.upgrade_timeout, upgrade_fut);
                match socket.cancellation.run(upgrade).await {
                    Some(Ok(res)) => res?,
                    Some(Err(_)) => {
                        #[cfg(feature = "tracing")]
                        tracing::debug!(?sid, "ws upgrade timed out, closing session");
                        engine.close_session(socket.id, DisconnectReason::TransportError);
                        return Err(Error::Upgrade);
                    }
                    None => {
                        #[cfg(feature = "tracing")]
                        tracing::debug!(?sid, "socket is being closed");
                        return Err(Error::Upgrade);
                    }
                }
                (socket, ws)
            }
        }
    } else {
        let socket =
            engine.create_session(protocol, TransportType::Websocket, kept_head(req_data), false);

        #[cfg(feature = "tracing")]
        tracing::debug!("new websocket connection");

        let mut ws = ws_init().await;
        init_handshake(socket.id, &mut ws, &engine.config).await?;
        socket.start_heartbeat(engine.config.ping_interval, engine.config.ping_timeout);
        (socket, ws)
    };
    Ok((socket, ws))
}

/// PATCH (chat): the request head a websocket session keeps for its whole life (socketioxide's
/// `req_parts`), without the headers only the upgrade needed nor hyper's upgrade handle, in a
/// map of its own size (hyper's is sized for parsing: with the upgrade's headers, ~0.6 KiB of
/// a ~9 KiB idle socket, valgrind massif).
fn kept_head(mut parts: Parts) -> Parts {
    use http::header::{
        CONNECTION, HeaderMap, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION,
        UPGRADE,
    };
    let upgrade_only = [
        CONNECTION,
        UPGRADE,
        SEC_WEBSOCKET_KEY,
        SEC_WEBSOCKET_VERSION,
        SEC_WEBSOCKET_EXTENSIONS,
    ];
    let kept = parts.headers.iter().filter(|(name, _)| !upgrade_only.contains(name)).count();
    let mut headers = HeaderMap::with_capacity(kept);
    // The iterator names a header once, before the first of its values.
    let mut name = None;
    for (next, value) in std::mem::take(&mut parts.headers) {
        name = next.or(name);
        if let Some(name) = name.as_ref().filter(|name| !upgrade_only.contains(name)) {
            headers.append(name.clone(), value);
        }
    }
    parts.headers = headers;
    // Taken by the upgrade already; the clone here would keep its shared state.
    parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    parts
}

/// Forwards all packets received from a websocket to a EngineIo [`Socket`]
async fn forward_to_handler<H: EngineIoHandler, S>(
    engine: &Arc<EngineIo<H>>,
    mut rx: SplitStream<WebSocketStream<S>>,
    socket: &Arc<Socket<H::Data>>,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    while let Some(msg) = rx.try_next().await? {
        match msg {
            Message::Text(msg) => match Packet::parse(socket.protocol, ws_bytes_to_str(msg))? {
                Packet::Close => {
                    #[cfg(feature = "tracing")]
                    tracing::debug!("[sid={}] closing session", socket.id);
                    engine.close_session(socket.id, DisconnectReason::TransportClose);
                    break;
                }
                Packet::Pong | Packet::Ping => {
                    socket.on_heartbeat(engine.config.ping_interval, engine.config.ping_timeout);
                    Ok::<(), Error>(())
                }
                Packet::Message(msg) => {
                    engine.handler.on_message(msg, socket.clone());
                    Ok(())
                }
                p => return Err(Error::BadPacket(p)),
            },
            Message::Binary(mut data) => {
                if socket.protocol == ProtocolVersion::V3 && !data.is_empty() {
                    // The first byte is the message type, which we don't need.
                    data = data.split_off(1);
                }
                engine.handler.on_binary(data, socket.clone());
                Ok(())
            }
            Message::Close(_) => {
                #[cfg(feature = "tracing")]
                tracing::debug!("websocket closed, closing session");
                engine.close_session(socket.id, DisconnectReason::TransportClose);
                break;
            }
            _ => {
                #[cfg(feature = "tracing")]
                tracing::debug!(sid = ?socket.id, "unexpected ws message");
                Ok(())
            }
        }?
    }
    Ok(())
}

/// PATCH (chat): how many times the writer lets other tasks run before it writes, while each
/// time brings more packets (see `forward_to_socket`).
const YIELDS: usize = 4;

/// Forwards all packets waiting to be sent to the websocket
///
/// The websocket stream is flushed only when the internal channel is drained
///
/// PATCH (chat): this future lives as long as the socket, so it is kept small (~1.7 KiB of
/// task per socket before): each burst taken from the queue is gathered, fed and flushed by a
/// boxed [`write_burst`], and the one-time lock wait is boxed.
async fn forward_to_socket<H: EngineIoHandler, S>(
    socket: Arc<Socket<H::Data>>,
    mut tx: SplitSink<WebSocketStream<S>, Message>,
    close_frame: Arc<OnceLock<CloseFrame>>,
    write_delay: std::time::Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // A polling request that was in progress during the upgrade may still hold the lock.
    let lock = Box::pin(socket.cancellation.run(socket.internal_rx.lock()));
    let Some(_internal_rx) = lock.await else {
        #[cfg(feature = "tracing")]
        tracing::debug!(sid = %socket.id, "session closed before starting the ws writer");
        return;
    };

    // Forward queued packets until the queue is closed or the session is closing.
    // PATCH (chat): the queue hands over everything it holds at once, and ends when the engine
    // closes the session (see `crate::queue`).
    // PATCH (chat): with a write delay, when the last write ended (see `gather`).
    let mut last_write = None;
    while let Some(batch) = socket.queue.take().await {
        let next_write = last_write.map(|at: Instant| at + write_delay);
        // PATCH (chat): each burst is written by a future of its own, boxed: inline, its
        // awaits (the wait for more packets, the feeding, the flush) took room in this future
        // for the socket's whole life (624 -> 336 bytes, task cell 768 -> 512); one small
        // allocation per write, beside its system call.
        Box::pin(write_burst(&socket, &mut tx, batch, next_write)).await;
        if !write_delay.is_zero() {
            last_write = Some(Instant::now());
        }
    }

    #[cfg(feature = "tracing")]
    tracing::trace!(sid = %socket.id, "ws closing flush");

    tx.flush().await.ok();
    // PATCH (chat): say why, when the reader closed the session for a reason of its own.
    if let Some(frame) = close_frame.get() {
        tx.send(Message::Close(Some(frame.clone()))).await.ok();
    }
    tx.close().await.ok();
}

/// PATCH (chat): gathers a burst (see [`gather`]), feeds it to the websocket and flushes.
async fn write_burst<D, S>(
    socket: &Socket<D>,
    tx: &mut SplitSink<WebSocketStream<S>, Message>,
    batch: Batch,
    next_write: Option<Instant>,
) where
    D: Default + Send + Sync + 'static,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let batch = gather(socket, batch, next_write).await;
    write_batch(tx, batch, socket.protocol).await;

    #[cfg(feature = "tracing")]
    tracing::trace!(sid = %socket.id, "ws flush");
    tx.flush().await.ok();
}

/// PATCH (chat): `batch` and the packets that join it before the write.
///
/// `next_write`: the earliest time this write may start (the last write's end plus the write
/// delay). A packet that comes after a quiet spell goes out at once; one that follows a write
/// closely waits for the rest of the delay, and what is queued meanwhile joins it, so a socket
/// under load writes at most once per delay and one that is not loses no time.
async fn gather<D: Default + Send + Sync + 'static>(
    socket: &Socket<D>,
    mut batch: Batch,
    next_write: Option<Instant>,
) -> Batch {
    if let Some(at) = next_write.filter(|at| *at > Instant::now()) {
        Box::pin(tokio::time::sleep_until(at)).await;
        if let Some(more) = socket.queue.try_take() {
            batch.append(more);
        }
    }
    // Let the broadcasts already running on this worker queue their packets too before the
    // write, so one write carries them all, and again while each turn brings more (at most
    // YIELDS): deliveries per CPU-second at 1000 clients / 10 rooms / 10 ms +49% over one
    // turn, and one turn +37% over none (chat-bench); at light load the cost, a poll or two
    // more per wake-up, is within the noise.
    for _ in 0..YIELDS {
        tokio::task::yield_now().await;
        let Some(more) = socket.queue.try_take() else { break };
        batch.append(more);
    }
    batch
}

/// Feeds the packets of `batch` to the websocket as messages (the caller flushes).
///
/// PATCH (chat): one place that feeds, in a future that holds only the queue it drains.
fn write_batch<S>(
    tx: &mut SplitSink<WebSocketStream<S>, Message>,
    batch: Batch,
    protocol: ProtocolVersion,
) -> impl Future<Output = ()> + Send + '_
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut packets = batch.packets;
    packets.extend(batch.volatile);
    async move {
        while let Some(buf) = packets.pop_front() {
            for packet in buf {
                let msg = match packet {
                    // v3 protocol requires packet type as the first byte.
                    // This requires a new buffer. This is OK as it is only for the V3 protocol.
                    Packet::Binary(bin) | Packet::BinaryV3(bin) if protocol == ProtocolVersion::V3 => {
                        let mut buff = Vec::with_capacity(bin.len() + 1);
                        buff.push(0x04);
                        buff.extend(bin);
                        Message::Binary(buff.into())
                    }
                    Packet::Binary(bin) | Packet::BinaryV3(bin) => Message::Binary(bin),
                    // A Noop Packet maybe sent by the server to upgrade from a polling connection
                    // In the case that the packet was not poll in time it will remain in the buffer and therefore
                    // it should be discarded here
                    Packet::Noop => continue,
                    packet => Message::Text(String::from(packet).into()),
                };
                if let Err(_e) = tx.feed(msg).await {
                    #[cfg(feature = "tracing")]
                    tracing::debug!("error sending packet: {}", _e);
                }
            }
        }
    }
}

/// Send a Engine.IO [`OpenPacket`] to initiate a websocket connection
async fn init_handshake<S>(
    sid: Sid,
    ws: &mut WebSocketStream<S>,
    config: &EngineIoConfig,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let packet = Packet::Open(Box::new(make_open_packet(TransportType::Websocket, sid, config)));
    let packet: String = packet.into();
    ws.send(Message::Text(packet.into())).await?;
    Ok(())
}

/// Upgrade a session from a polling request to a websocket request.
///
/// Before upgrading the session the server should send a NOOP packet to any pending polling request.
///
/// ## Handshake :
/// ```text
/// CLIENT                                                 SERVER
///│                                                      │
///│   GET /engine.io/?EIO=4&transport=websocket&sid=...  │
///│ ───────────────────────────────────────────────────► │
///│  ◄─────────────────────────────────────────────────┘ │
///│            HTTP 101 (WebSocket handshake)            │
///│                                                      │
///│            -----  WebSocket frames -----             │
///│  ─────────────────────────────────────────────────►  │
///│                         2probe                       │ (ping packet)
///│  ◄─────────────────────────────────────────────────  │
///│                         3probe                       │ (pong packet)
///│  ─────────────────────────────────────────────────►  │
///│                         5                            │ (upgrade packet)
///│                                                      │
///│            -----  WebSocket frames -----             │
/// ```
#[cfg_attr(
    feature = "tracing",
    tracing::instrument(level = "trace", skip(socket, ws))
)]
async fn upgrade_handshake<H: EngineIoHandler, S>(
    socket: &Arc<Socket<H::Data>>,
    ws: &mut WebSocketStream<S>,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    #[cfg(feature = "tracing")]
    tracing::debug!("starting websocket connection upgrade");

    // The socket is upgrading, from now on all polling
    // request will return a `Packet::Noop`
    socket.start_upgrade();

    // We send a last Noop request to close a potential waiting polling request.
    // PATCH (chat): above the queue's capacity if need be (was: waiting for room).
    if !socket.queue.force_send(smallvec![Packet::Noop]) {
        return Err(Error::Upgrade);
    }

    // wait for any current polling connection to finish by waiting for the socket to be unlocked
    // All other polling connection will be immediately closed with a NOOP packet.
    let _lock = socket.internal_rx.lock().await;

    // Fetch the next packet from the ws stream, it should be a PingUpgrade packet
    let msg = match ws.next().await {
        Some(Ok(Message::Text(d))) => d,
        _ => Err(Error::Upgrade)?,
    };
    match Packet::parse(socket.protocol, ws_bytes_to_str(msg))? {
        Packet::PingUpgrade => {
            #[cfg(feature = "tracing")]
            tracing::debug!("received first ping upgrade");
            // Respond with a PongUpgrade packet
            ws.send(Message::Text(String::from(Packet::PongUpgrade).into()))
                .await?;
        }
        p => Err(Error::BadPacket(p))?,
    };

    // Fetch the next packet from the ws stream, it should be an Upgrade packet
    let msg = match ws.next().await {
        Some(Ok(Message::Text(d))) => d,
        Some(Ok(Message::Close(_))) => {
            #[cfg(feature = "tracing")]
            tracing::debug!("ws stream closed before upgrade");
            Err(Error::Upgrade)?
        }
        _ => {
            #[cfg(feature = "tracing")]
            tracing::debug!("unexpected ws message before upgrade");
            Err(Error::Upgrade)?
        }
    };
    match Packet::parse(socket.protocol, ws_bytes_to_str(msg))? {
        Packet::Upgrade => {
            #[cfg(feature = "tracing")]
            tracing::debug!("ws upgraded successfully")
        }
        p => Err(Error::BadPacket(p))?,
    };

    socket.upgrade_to_websocket();
    Ok(())
}

fn ws_bytes_to_str(bytes: tungstenite::Utf8Bytes) -> Str {
    // SAFETY: the bytes are guaranteed to be valid UTF-8 by the tungstenite parser
    unsafe { Str::from_bytes_unchecked(bytes.into()) }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use futures_util::StreamExt;
    use http::Request;
    use tokio::io::DuplexStream;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(1);

    #[derive(Debug)]
    struct StubHandler;
    impl EngineIoHandler for StubHandler {
        type Data = ();
        fn on_connect(self: Arc<Self>, _: Arc<Socket<()>>) {}
        fn on_disconnect(&self, _: Arc<Socket<()>>, _: DisconnectReason) {}
        fn on_message(self: &Arc<Self>, _: Str, _: Arc<Socket<()>>) {}
        fn on_binary(self: &Arc<Self>, _: Bytes, _: Arc<Socket<()>>) {}
    }

    fn socket() -> Arc<Socket<()>> {
        Arc::new(Socket::new(
            ProtocolVersion::V4,
            TransportType::Websocket,
            &EngineIoConfig::default(),
            Request::<()>::default().into_parts().0,
            Box::new(|_, _| ()),
            false,
        ))
    }

    async fn ws_pair() -> (WebSocketStream<DuplexStream>, WebSocketStream<DuplexStream>) {
        let (server, client) = tokio::io::duplex(1024);
        (
            WebSocketStream::from_raw_socket(server, Role::Server, None).await,
            WebSocketStream::from_raw_socket(client, Role::Client, None).await,
        )
    }

    /// PATCH (chat): a session keeps every header but the upgrade's, repeated ones included.
    #[test]
    fn the_kept_head_drops_only_the_upgrade_headers() {
        let request = Request::get("/engine.io/?EIO=4&transport=websocket")
            .header("host", "chat.example")
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-extensions", "permessage-deflate")
            .header("x-forwarded-for", "192.0.2.1")
            .header("x-forwarded-for", "198.51.100.2")
            .header("user-agent", "test")
            .body(())
            .unwrap();
        let head = kept_head(request.into_parts().0);
        let kept: Vec<(&str, &str)> = head
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.to_str().unwrap()))
            .collect();
        assert_eq!(
            kept,
            [
                ("host", "chat.example"),
                ("x-forwarded-for", "192.0.2.1"),
                ("x-forwarded-for", "198.51.100.2"),
                ("user-agent", "test"),
            ]
        );
        assert_eq!(head.uri, "/engine.io/?EIO=4&transport=websocket");
        assert!(head.headers.capacity() < 8, "{}", head.headers.capacity());
    }

    /// A polling request can still hold the lock at the end of an upgrade.
    #[tokio::test]
    async fn writer_waits_for_the_lock_of_a_polling_request() {
        let socket = socket();
        let (server, mut client) = ws_pair().await;
        let (tx, _rx) = server.split();

        let polling = socket.internal_rx.lock().await;
        let writer = tokio::spawn(forward_to_socket::<StubHandler, _>(socket.clone(), tx, Default::default(), Default::default()));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!writer.is_finished(), "the writer should wait for the lock");

        drop(polling);
        socket.emit(Str::from("hello")).unwrap();
        let msg = tokio::time::timeout(TIMEOUT, client.next())
            .await
            .expect("the writer should send the packet")
            .unwrap()
            .unwrap();
        assert_eq!(msg, Message::text("4hello"));
    }

    #[tokio::test]
    async fn writer_waiting_for_the_lock_stops_with_the_session() {
        let socket = socket();
        let (server, _client) = ws_pair().await;
        let (tx, _rx) = server.split();

        let _polling = socket.internal_rx.lock().await;
        let writer = tokio::spawn(forward_to_socket::<StubHandler, _>(socket.clone(), tx, Default::default(), Default::default()));
        tokio::time::sleep(Duration::from_millis(20)).await;

        socket.cancellation.cancel();
        tokio::time::timeout(TIMEOUT, writer)
            .await
            .expect("the writer should stop")
            .unwrap();
    }
}
