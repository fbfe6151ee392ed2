//! The ws transport module is responsible for handling websocket connections
//! The only public function is [`new_req`] which is used to upgrade a http request to a websocket connection
//!
//! Other functions are used internally to handle the websocket connection through tasks and channels
//! and to handle upgrade from polling to ws

use std::{
    ops::ControlFlow,
    sync::{Arc, Mutex, OnceLock},
    task::{Context, Poll, Wake, Waker},
};

use futures_util::{
    FutureExt as _, SinkExt, StreamExt,
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
    errors::Error, handler::EngineIoHandler, on_demand::OnDemand,
    queue::{Batch, More},
    transport::make_open_packet,
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
    // PATCH (chat): the task that opened the session reads its first burst, then each half
    // has a task only while it has work (see `crate::on_demand`).
    tokio::spawn(open.then(move |opened| match opened {
        Ok(Some((socket, ws))) => Either::Left(start_halves(engine, socket, ws).read()),
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
/// PATCH (chat): resolves once the session is open and its first burst read (was: once the
/// connection closed); from then on the session's halves run in tasks of their own while they
/// have work (see `crate::on_demand`).
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
    start_halves(engine, socket, ws).read().await;
    Ok(())
}

/// PATCH (chat): splits the websocket of an open session, starts its writer and returns its
/// reader, for the caller to run its first turn.
fn start_halves<H: EngineIoHandler, S>(
    engine: Arc<EngineIo<H>>,
    socket: Arc<Socket<H::Data>>,
    ws: WebSocketStream<S>,
) -> Arc<WsReader<H, S>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = ws.split();
    // PATCH (chat): the close frame the writer sends when the reader gives up on the client.
    let close_frame = Arc::new(OnceLock::new());
    WsWriter::start(socket.clone(), tx, close_frame.clone(), engine.config.ws_write_delay);
    Arc::new(WsReader {
        engine,
        socket,
        rx: Mutex::new(Some(rx)),
        close_frame,
        run: OnDemand::running(),
    })
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

/// PATCH (chat): the reading half of a websocket session, which has a task only while there
/// is something to read (see `crate::on_demand`): its waker, registered with the socket's I/O
/// and the session's cancellation, spawns one.
struct WsReader<H: EngineIoHandler, S> {
    engine: Arc<EngineIo<H>>,
    socket: Arc<Socket<H::Data>>,
    /// `None` once the reader is done.
    rx: Mutex<Option<SplitStream<WebSocketStream<S>>>>,
    close_frame: Arc<OnceLock<CloseFrame>>,
    run: OnDemand,
}

/// What a turn of the reader ended with.
enum ReadTurn {
    /// Nothing left to read: the task ends, the waker is registered.
    Parked,
    /// Woken meanwhile (or out of tokio's budget): look again after letting others run.
    Again,
    /// The reader is done: the stream ended (`Some(Ok)`) or failed, or the session was
    /// cancelled (`None`).
    Done(Option<Result<(), Error>>),
}

impl<H: EngineIoHandler, S> Wake for WsReader<H, S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn wake(self: Arc<Self>) {
        if self.run.wake() {
            tokio::spawn(self.read());
        }
    }
}

impl<H: EngineIoHandler, S> WsReader<H, S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// A task's life: reads until nothing is left, then ends (or closes the session).
    async fn read(self: Arc<Self>) {
        let waker = Waker::from(self.clone());
        loop {
            match self.turn(&waker) {
                ReadTurn::Parked => return,
                ReadTurn::Again => tokio::task::yield_now().await,
                ReadTurn::Done(result) => return self.done(result),
            }
        }
    }

    /// Hands every message ready to the handler, with `waker` registered for the next ones.
    fn turn(&self, waker: &Waker) -> ReadTurn {
        let mut cx = Context::from_waker(waker);
        let mut rx = self.rx.lock().unwrap_or_else(|e| e.into_inner());
        let Some(stream) = rx.as_mut() else {
            // Done already: a late wake-up.
            return ReadTurn::Parked;
        };
        // Cancellation is heeded only once nothing is ready (as `Cancellation::run` did around
        // upstream's reader): what the client sent before a shutdown is still read and answered.
        let turn = loop {
            match stream.poll_next_unpin(&mut cx) {
                Poll::Ready(Some(Ok(msg))) => match on_ws_message(&self.engine, &self.socket, msg) {
                    Ok(ControlFlow::Continue(())) => {}
                    Ok(ControlFlow::Break(())) => break ReadTurn::Done(Some(Ok(()))),
                    Err(e) => break ReadTurn::Done(Some(Err(e))),
                },
                Poll::Ready(Some(Err(e))) => break ReadTurn::Done(Some(Err(e.into()))),
                Poll::Ready(None) => break ReadTurn::Done(Some(Ok(()))),
                Poll::Pending => {
                    // Registered before the flag is read: a cancellation after it wakes us.
                    self.socket.cancellation.register(waker);
                    if self.socket.cancellation.is_cancelled() {
                        break ReadTurn::Done(None);
                    }
                    return if self.run.park() { ReadTurn::Parked } else { ReadTurn::Again };
                }
            }
        };
        // Drops the reading half; later wake-ups find nothing to do.
        *rx = None;
        turn
    }

    /// The reader is done (see [`ReadTurn::Done`]): closes the session unless it is closing.
    fn done(&self, result: Option<Result<(), Error>>) {
        let (engine, socket) = (&self.engine, &self.socket);
        match result {
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
                        self.close_frame
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

/// Hands a message received from a websocket to the EngineIo [`Socket`]; `Break` once the
/// session is closed. PATCH (chat): one message, for the reader's turns (was: a loop awaiting
/// the stream).
fn on_ws_message<H: EngineIoHandler>(
    engine: &Arc<EngineIo<H>>,
    socket: &Arc<Socket<H::Data>>,
    msg: Message,
) -> Result<ControlFlow<()>, Error> {
    match msg {
        Message::Text(msg) => match Packet::parse(socket.protocol, ws_bytes_to_str(msg))? {
            Packet::Close => {
                #[cfg(feature = "tracing")]
                tracing::debug!("[sid={}] closing session", socket.id);
                engine.close_session(socket.id, DisconnectReason::TransportClose);
                return Ok(ControlFlow::Break(()));
            }
            Packet::Pong | Packet::Ping => {
                socket.on_heartbeat(engine.config.ping_interval, engine.config.ping_timeout);
            }
            Packet::Message(msg) => engine.handler.on_message(msg, socket.clone()),
            p => return Err(Error::BadPacket(p)),
        },
        Message::Binary(mut data) => {
            if socket.protocol == ProtocolVersion::V3 && !data.is_empty() {
                // The first byte is the message type, which we don't need.
                data = data.split_off(1);
            }
            engine.handler.on_binary(data, socket.clone());
        }
        Message::Close(_) => {
            #[cfg(feature = "tracing")]
            tracing::debug!("websocket closed, closing session");
            engine.close_session(socket.id, DisconnectReason::TransportClose);
            return Ok(ControlFlow::Break(()));
        }
        _ => {
            #[cfg(feature = "tracing")]
            tracing::debug!(sid = ?socket.id, "unexpected ws message");
        }
    }
    Ok(ControlFlow::Continue(()))
}

/// PATCH (chat): how many times the writer lets other tasks run before it writes, while each
/// time brings more packets (see `gather`).
const YIELDS: usize = 4;

/// PATCH (chat): the writing half of a websocket session, which has a task only while it has
/// packets to write (see `crate::on_demand`): its waker, registered with the send queue,
/// spawns one. Upstream's writer task (`forward_to_socket`) lived as long as the socket.
///
/// The websocket stream is flushed only when the queue is drained.
struct WsWriter<D: Default + Send + Sync + 'static, S> {
    socket: Arc<Socket<D>>,
    /// What the writer keeps between its tasks; taken by the running one.
    state: Mutex<Option<WriterState<S>>>,
    close_frame: Arc<OnceLock<CloseFrame>>,
    write_delay: std::time::Duration,
    run: OnDemand,
}

struct WriterState<S> {
    tx: SplitSink<WebSocketStream<S>, Message>,
    /// With a write delay, when the last write ended (see `gather`).
    last_write: Option<Instant>,
    /// The writer has waited for a polling request of the upgrade to end (see `WsWriter::write`).
    started: bool,
    /// When the writer last let go of its task.
    parked_at: Option<Instant>,
    /// How many times in a row the writer was woken within [`REWAKE`] of letting go.
    rewakes: u8,
}

/// PATCH (chat): a writer woken again [`REWAKES`] times in a row, each within this time of
/// letting go of its task, lingers in the next (see `WsWriter::write`). Half the engine
/// timer's longest tick: a socket written to once a second (chat-server's coalesced join
/// notices during a connect storm) does not linger, since a lingering task outlives the storm
/// by up to two ticks and leaves its freed cell as a hole in the heap (1 s: 5.26 / 5.29 KiB
/// per idle socket at 10 000, 500 ms: 5.09 / 4.97; chat-bench).
const REWAKE: std::time::Duration = std::time::Duration::from_millis(500);
const REWAKES: u8 = 2;

impl<D: Default + Send + Sync + 'static, S> Wake for WsWriter<D, S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn wake(self: Arc<Self>) {
        if self.run.wake() {
            tokio::spawn(self.write());
        }
    }
}

impl<D: Default + Send + Sync + 'static, S> WsWriter<D, S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// Starts the writer of `socket` on the writing half `tx`.
    fn start(
        socket: Arc<Socket<D>>,
        tx: SplitSink<WebSocketStream<S>, Message>,
        close_frame: Arc<OnceLock<CloseFrame>>,
        write_delay: std::time::Duration,
    ) {
        let state = WriterState {
            tx,
            last_write: None,
            started: false,
            parked_at: None,
            rewakes: 0,
        };
        let writer = Arc::new(Self {
            socket,
            state: Mutex::new(Some(state)),
            close_frame,
            write_delay,
            run: OnDemand::running(),
        });
        tokio::spawn(writer.write());
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, Option<WriterState<S>>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A task's life: writes what is queued until the queue is empty, then ends; once the
    /// queue is closed, says goodbye to the client.
    async fn write(self: Arc<Self>) {
        let Some(mut state) = self.lock_state().take() else {
            return;
        };
        let socket = &self.socket;
        if !state.started {
            // A polling request that was in progress during the upgrade may still hold the
            // lock. After it, none takes it (polling refuses a websocket session): the writer
            // is the queue's one consumer from then on without holding it between turns.
            let lock = Box::pin(socket.cancellation.run(socket.internal_rx.lock()));
            if lock.await.is_none() {
                #[cfg(feature = "tracing")]
                tracing::debug!(sid = %socket.id, "session closed before starting the ws writer");
                return;
            }
            state.started = true;
        }
        let waker = Waker::from(self.clone());
        // A writer woken again and again soon after it let go of its task keeps the next one
        // while the socket stays busy (see `SendQueue::poll_linger`); one woken after a quiet
        // spell or only once more (a socket's first packets, a lone message) lets go as soon
        // as its queue is empty, its task cell freed for the next one.
        let rewoken = state.parked_at.is_some_and(|at| at.elapsed() < REWAKE);
        state.rewakes = if rewoken { state.rewakes.saturating_add(1) } else { 0 };
        let linger = state.rewakes >= REWAKES;
        loop {
            let more = if linger {
                // With this task's waker.
                std::future::poll_fn(|cx| socket.queue.poll_linger(cx)).await
            } else {
                More::Quiet
            };
            let batch = match more {
                More::Batch(batch) => batch,
                More::Closed => break,
                More::Quiet => match socket.queue.poll_take(&mut Context::from_waker(&waker)) {
                    Poll::Ready(Some(batch)) => batch,
                    Poll::Ready(None) => break,
                    Poll::Pending => {
                        forget_task_waker(&mut state.tx);
                        state.parked_at = Some(Instant::now());
                        *self.lock_state() = Some(state);
                        if self.run.park() {
                            return;
                        }
                        // Woken meanwhile: still the running task, which nobody took the
                        // state from.
                        let Some(taken) = self.lock_state().take() else { return };
                        state = taken;
                        continue;
                    }
                },
            };
            let next_write = state.last_write.map(|at: Instant| at + self.write_delay);
            // PATCH (chat): each burst is written by a future of its own, boxed, so that this
            // one stays small while it waits.
            Box::pin(write_burst(socket, &mut state.tx, batch, next_write)).await;
            if !self.write_delay.is_zero() {
                state.last_write = Some(Instant::now());
            }
        }

        #[cfg(feature = "tracing")]
        tracing::trace!(sid = %socket.id, "ws closing flush");

        let tx = &mut state.tx;
        tx.flush().await.ok();
        // PATCH (chat): say why, when the reader closed the session for a reason of its own.
        if let Some(frame) = self.close_frame.get() {
            tx.send(Message::Close(Some(frame.clone()))).await.ok();
        }
        tx.close().await.ok();
    }
}

/// PATCH (chat): replaces the waker of the task that wrote last, which the websocket keeps
/// (tokio-tungstenite's write waker proxy), with a no-op one: a task's memory (its 512-byte
/// cell) lives as long as a waker of it, and the writer's task is about to end. Nothing is
/// left to flush then, so nothing waits for that waker.
fn forget_task_waker<S>(tx: &mut SplitSink<WebSocketStream<S>, Message>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let _ = tx.poll_flush_unpin(&mut Context::from_waker(Waker::noop()));
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

    /// Resolves once only the test holds `socket`: the session's tasks are gone.
    async fn only_the_test_holds(socket: &Arc<Socket<()>>) {
        while Arc::strong_count(socket) > 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A polling request can still hold the lock at the end of an upgrade.
    #[tokio::test]
    async fn writer_waits_for_the_lock_of_a_polling_request() {
        let socket = socket();
        let (server, mut client) = ws_pair().await;
        let (tx, _rx) = server.split();

        let polling = socket.internal_rx.lock().await;
        WsWriter::start(socket.clone(), tx, Default::default(), Default::default());
        socket.emit(Str::from("early")).unwrap();
        let early = tokio::time::timeout(Duration::from_millis(50), client.next()).await;
        assert!(early.is_err(), "the writer should wait for the lock");

        drop(polling);
        socket.emit(Str::from("hello")).unwrap();
        for expected in ["4early", "4hello"] {
            let msg = tokio::time::timeout(TIMEOUT, client.next())
                .await
                .expect("the writer should send the packets")
                .unwrap()
                .unwrap();
            assert_eq!(msg, Message::text(expected));
        }
    }

    #[tokio::test]
    async fn writer_waiting_for_the_lock_stops_with_the_session() {
        let socket = socket();
        let (server, _client) = ws_pair().await;
        let (tx, _rx) = server.split();

        let _polling = socket.internal_rx.lock().await;
        WsWriter::start(socket.clone(), tx, Default::default(), Default::default());
        tokio::time::sleep(Duration::from_millis(20)).await;

        socket.cancellation.cancel();
        tokio::time::timeout(TIMEOUT, only_the_test_holds(&socket))
            .await
            .expect("the writer should stop");
    }

    /// PATCH (chat): an idle writer has no task; the next packet starts one, and the close of
    /// the queue makes the last one say goodbye.
    #[tokio::test]
    async fn writer_comes_back_for_each_burst_and_closes_the_websocket() {
        let socket = socket();
        let (server, mut client) = ws_pair().await;
        let (tx, _rx) = server.split();
        WsWriter::start(socket.clone(), tx, Default::default(), Default::default());

        for text in ["one", "two"] {
            socket.emit(Str::from(text)).unwrap();
            let msg = tokio::time::timeout(TIMEOUT, client.next()).await.unwrap().unwrap().unwrap();
            assert_eq!(msg, Message::text(format!("4{text}")));
            // Idle: the writer's waker in the queue holds it, no task does.
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(socket.queue.try_take().is_none());
        }

        socket.queue.close();
        let msg = tokio::time::timeout(TIMEOUT, client.next()).await.unwrap().unwrap().unwrap();
        assert!(matches!(msg, Message::Close(_)), "{msg:?}");
        tokio::time::timeout(TIMEOUT, only_the_test_holds(&socket))
            .await
            .expect("the writer should end once the queue is closed");
    }

    /// PATCH (chat): an idle reader has no task; the next message starts one, and the
    /// session's cancellation ends it without a message.
    #[tokio::test]
    async fn reader_comes_back_for_each_message_and_stops_with_the_session() {
        #[derive(Debug, Default)]
        struct Recorder(Mutex<Vec<String>>);
        impl EngineIoHandler for Recorder {
            type Data = ();
            fn on_connect(self: Arc<Self>, _: Arc<Socket<()>>) {}
            fn on_disconnect(&self, _: Arc<Socket<()>>, _: DisconnectReason) {}
            fn on_message(self: &Arc<Self>, msg: Str, _: Arc<Socket<()>>) {
                self.0.lock().unwrap().push(msg.to_string());
            }
            fn on_binary(self: &Arc<Self>, _: Bytes, _: Arc<Socket<()>>) {}
        }
        let handler = Arc::new(Recorder::default());
        let engine = Arc::new(EngineIo::new(handler.clone(), EngineIoConfig::default()));
        let socket = socket();
        let (server, mut client) = ws_pair().await;
        let (_tx, rx) = server.split();
        let reader = Arc::new(WsReader {
            engine,
            socket: socket.clone(),
            rx: Mutex::new(Some(rx)),
            close_frame: Default::default(),
            run: OnDemand::running(),
        });
        tokio::spawn(reader.clone().read());

        for (n, text) in ["4one", "4two"].into_iter().enumerate() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            client.send(Message::text(text)).await.unwrap();
            tokio::time::timeout(TIMEOUT, async {
                while handler.0.lock().unwrap().len() <= n {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await
            .expect("the reader should hand the message over");
        }
        assert_eq!(*handler.0.lock().unwrap(), ["one", "two"]);

        socket.cancellation.cancel();
        tokio::time::timeout(TIMEOUT, async {
            while reader.rx.lock().unwrap().is_some() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the reader should stop with the session and drop its half");
    }
}
