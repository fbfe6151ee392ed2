//! The task that owns the Socket.IO connection. The UI sends [`NetCommand`]s in and gets
//! [`NetEvent`]s out over channels, and never waits on the network.
//!
//! rust_socketio 0.6 needs a careful hand (see `shared/README.md`): it is built with
//! `reconnect(false)` and this task owns the retry loop with backoff, so a rejected token is
//! not retried forever; a rejection is only visible as an `Event::Error` carrying the
//! `connect_error` frame; nothing is emitted before `Event::Connect`; its callbacks only
//! forward into a channel; and only one ack is in flight at a time, under our own timeout,
//! because the crate never reports one and misroutes answers when many are outstanding.

use std::{
    collections::{HashMap, VecDeque},
    time::Duration,
};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use futures_util::FutureExt;
use rust_socketio::{
    Event as SioEvent, Payload, TransportType,
    asynchronous::{Client, ClientBuilder},
};
use serde_json::{Value, json};
use shared::{
    defaults::ROOM_QUERY_KEY,
    errors, events,
    payload::{
        DirectRequest, HistoryQuery, IncomingMessage, JoinRequest, MembersAck, MessageAck, OutgoingMessage,
        Page, PageAck, RoomAck, SearchQuery, UserInfo,
    },
};
use tokio::{
    sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel},
    time::{Instant, sleep_until, timeout},
};

pub use self::command::{AckOutcome, NetCommand, NetEvent};

/// What starts a query window's name (`@bob`): no room name can (see `shared::validate::room`).
pub const QUERY_PREFIX: &str = "@";
use self::wire::{ErrorKind, ack_value, classify_error, first_value, socket_id};
use crate::auth::Token;

mod command;
pub mod wire;

/// Longest wait for the server to accept or refuse a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for one ack.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// After this long without a word from the server, ask it something (`user.info` on our own
/// id) to see whether the connection still lives. A closed transport is reported at once (the
/// vendored crate's `Close` patch); this catches a connection that died without closing.
const PROBE_AFTER: Duration = Duration::from_secs(15);
/// Reconnect delays double from the first to the last, each plus a random jitter of up to
/// itself (backon's), so clients that lost one server do not all come back at once: the
/// first try within 1–2 s, none later than 30 s.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_LAST: Duration = Duration::from_secs(15);
/// A message refused for the rate limit is sent again after this long (the server's bucket
/// refills one message per 100 ms by default), up to [`RATE_RETRIES`] times, in its place in
/// the queue: scripts that pipe many lines are paced to the server instead of losing them.
const RATE_RETRY: Duration = Duration::from_millis(150);
const RATE_RETRIES: u32 = 40;
/// The server answers a refused request with an `error` event and a failing ack; within this
/// long of each other they are one refusal, reported once (by the ack).
const SAME_REFUSAL: Duration = Duration::from_secs(2);

/// Where to connect.
#[derive(Debug, Clone)]
pub struct NetConfig {
    pub server: String,
    /// The handshake room (`?room=`).
    pub room: String,
    pub token: Token,
}

/// Starts the network task.
/// The network task as the UI holds it (iamb's `Requester` is the model): commands go in by
/// [`Net::send`], events come out of [`Net::events`].
pub struct Net {
    cmds: UnboundedSender<NetCommand>,
    /// What the network says, in order.
    pub events: UnboundedReceiver<NetEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl Net {
    /// Starts the task; it connects at once and keeps reconnecting until shut down.
    pub fn spawn(config: NetConfig) -> Self {
        let (cmds, events, task) = spawn(config);
        Net { cmds, events, task }
    }

    /// Queues a command (a no-op once the task has stopped, which it only does at shutdown).
    pub fn send(&self, command: NetCommand) {
        if self.cmds.send(command).is_err() {
            tracing::warn!("network task has stopped");
        }
    }

    /// Disconnects and waits (at most 3 s) for the task to end.
    pub async fn shutdown(self) {
        self.send(NetCommand::Shutdown);
        let _ = tokio::time::timeout(Duration::from_secs(3), self.task).await;
    }
}

fn spawn(
    config: NetConfig,
) -> (UnboundedSender<NetCommand>, UnboundedReceiver<NetEvent>, tokio::task::JoinHandle<()>) {
    let (cmd_tx, cmd_rx) = unbounded_channel();
    let (event_tx, event_rx) = unbounded_channel();
    let worker = Worker::new(config, cmd_rx, event_tx);
    (cmd_tx, event_rx, tokio::spawn(worker.run()))
}

/// What the crate's callbacks forward, one channel per connection attempt.
#[derive(Debug)]
enum Raw {
    Connected(Payload),
    Closed,
    /// A crate-level error text, or the server's `error` event (both arrive as `Event::Error`).
    Error(Payload),
    Message(Payload),
    /// `chat.gap`, `chat.presence`, `chat.typing` or `chat.direct`: read as the event says.
    Other(Payload, ReadEvent),
    Ack {
        seq: u64,
        payload: Payload,
    },
}

/// Reads an event's first argument into what the app gets.
type ReadEvent = fn(Value) -> Option<NetEvent>;

/// Why a connection attempt or session ended.
enum End {
    Shutdown,
    Rejected(String),
    Dropped(String),
    /// A new token came: connect again at once.
    Reauth,
}

struct InFlight {
    seq: u64,
    command: NetCommand,
    deadline: Instant,
}

struct Worker {
    config: NetConfig,
    cmds: UnboundedReceiver<NetCommand>,
    events: UnboundedSender<NetEvent>,
    /// Commands waiting for the connection or for the ack in flight.
    queue: VecDeque<NetCommand>,
    /// Cleared when a `chat.message` ack never comes although the server is alive and has
    /// never acked one: then it speaks the classic protocol and messages go without acks.
    message_acks: bool,
    /// A `chat.message` ack has come: the server acks, and a late one is only late.
    acks_seen: bool,
    /// Rooms joined besides the handshake room, in joining order: joined again, before anything
    /// queued is sent, on every new connection.
    rooms: Vec<String>,
    /// The last message id seen in each room: a new connection resumes from it (handshake
    /// `auth.after`, `chat.join {room, after}`), so the server replays exactly what was missed.
    last_ids: HashMap<String, String>,
    /// The handshake room was left; a new connection puts the socket back in it, so it leaves
    /// again first.
    left_home: bool,
    /// Delays before the next attempts; fresh after each connection that worked.
    backoff: ExponentialBackoff,
}

fn fresh_backoff() -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(BACKOFF_FIRST)
        .with_max_delay(BACKOFF_LAST)
        .with_jitter()
        .without_max_times()
        .build()
}

/// What a command asks of the connection loop; the others wait in the queue.
enum Control {
    Shutdown,
    /// A new token is in the config: connect with it.
    Reauth,
    Reconnect,
}

impl Worker {
    /// Every loop's one way to take a command: queues what is for the server, says what is
    /// for the loop (the channel closing means shutdown).
    fn take(&mut self, cmd: Option<NetCommand>) -> Option<Control> {
        match cmd {
            None | Some(NetCommand::Shutdown) => Some(Control::Shutdown),
            Some(NetCommand::Reauth(token)) => {
                self.config.token = token;
                Some(Control::Reauth)
            }
            Some(NetCommand::Reconnect) => Some(Control::Reconnect),
            Some(cmd) => {
                self.queue.push_back(cmd);
                None
            }
        }
    }

    fn new(
        config: NetConfig,
        cmds: UnboundedReceiver<NetCommand>,
        events: UnboundedSender<NetEvent>,
    ) -> Self {
        Worker {
            config,
            cmds,
            events,
            queue: VecDeque::new(),
            message_acks: true,
            acks_seen: false,
            rooms: Vec::new(),
            last_ids: HashMap::new(),
            left_home: false,
            backoff: fresh_backoff(),
        }
    }

    fn emit(&self, event: NetEvent) {
        // The UI has gone away only when we are shutting down anyway.
        let _ = self.events.send(event);
    }

    async fn run(mut self) {
        let mut failures: u32 = 0;
        loop {
            self.emit(NetEvent::Connecting);
            let end = match self.connect().await {
                Ok((client, raw, socket_id)) => {
                    failures = 0;
                    self.backoff = fresh_backoff();
                    self.emit(NetEvent::Connected { socket_id: socket_id.clone() });
                    let end = self.session(&client, raw, socket_id).await;
                    // Dropping the client does not disconnect it.
                    let _ = timeout(Duration::from_secs(2), client.disconnect()).await;
                    end
                }
                Err(end) => end,
            };
            match end {
                End::Shutdown => return,
                End::Reauth => continue,
                End::Rejected(message) => {
                    tracing::info!(%message, "connection refused");
                    self.emit(NetEvent::Rejected { message });
                    if !self.wait_for_reauth().await {
                        return;
                    }
                    failures = 0;
                }
                End::Dropped(reason) => {
                    tracing::info!(%reason, "connection lost");
                    let reason = reason.clone();
                    failures += 1;
                    let delay = self.backoff.next().unwrap_or(BACKOFF_LAST * 2);
                    self.emit(NetEvent::Reconnecting { attempt: failures + 1, delay, reason });
                    if !self.wait(delay).await {
                        return;
                    }
                }
            }
        }
    }

    /// Queues commands until `delay` has passed; `false` on shutdown.
    async fn wait(&mut self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        loop {
            tokio::select! {
                _ = sleep_until(until) => return true,
                cmd = self.cmds.recv() => match self.take(cmd) {
                    Some(Control::Shutdown) => return false,
                    Some(Control::Reauth | Control::Reconnect) => return true,
                    None => {}
                },
            }
        }
    }

    /// After a rejection: queues commands until a new token comes; `false` on shutdown.
    async fn wait_for_reauth(&mut self) -> bool {
        loop {
            let cmd = self.cmds.recv().await;
            match self.take(cmd) {
                Some(Control::Shutdown) => return false,
                Some(Control::Reauth | Control::Reconnect) => return true,
                None => {}
            }
        }
    }

    /// One attempt: resolves once the server has accepted (with our socket id) or refused.
    async fn connect(&mut self) -> Result<(Client, UnboundedReceiver<Raw>, Option<String>), End> {
        let url = socket_url(&self.config.server, &self.config.room)
            .map_err(|e| End::Rejected(format!("invalid server URL {}: {e}", self.config.server)))?;
        let (tx, mut raw) = unbounded_channel();
        let forward = |tx: &UnboundedSender<Raw>, wrap: fn(Payload) -> Raw| {
            let tx = tx.clone();
            move |payload: Payload, _: Client| {
                let _ = tx.send(wrap(payload));
                async {}.boxed()
            }
        };
        let mut auth = json!({ "token": self.config.token.as_str() });
        if let Some(after) = self.last_ids.get(&self.config.room) {
            auth["after"] = json!(after);
        }
        let mut builder = ClientBuilder::new(url.as_str())
            .transport_type(TransportType::Websocket)
            .reconnect(false)
            .auth(auth)
            .on(SioEvent::Connect, forward(&tx, Raw::Connected))
            .on(SioEvent::Close, forward(&tx, |_| Raw::Closed))
            .on(SioEvent::Error, forward(&tx, Raw::Error))
            .on(events::CHAT_MESSAGE, forward(&tx, Raw::Message));
        // The events read straight into what the app gets.
        let others: [(&str, ReadEvent); 4] = [
            (events::CHAT_GAP, |v| serde_json::from_value(v).ok().map(NetEvent::Gap)),
            (events::CHAT_PRESENCE, |v| serde_json::from_value(v).ok().map(NetEvent::Presence)),
            (events::CHAT_TYPING, |v| serde_json::from_value(v).ok().map(NetEvent::Typing)),
            (events::CHAT_DIRECT, |v| serde_json::from_value(v).ok().map(NetEvent::Direct)),
        ];
        for (event, read) in others {
            let tx = tx.clone();
            builder = builder.on(event, move |payload: Payload, _: Client| {
                let _ = tx.send(Raw::Other(payload, read));
                async {}.boxed()
            });
        }
        let client = match timeout(CONNECT_TIMEOUT, builder.connect()).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(End::Dropped(e.to_string())),
            Err(_) => return Err(End::Dropped("timed out connecting".into())),
        };
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let end = loop {
            tokio::select! {
                _ = sleep_until(deadline) => break End::Dropped("timed out waiting for the server".into()),
                cmd = self.cmds.recv() => match self.take(cmd) {
                    Some(Control::Shutdown) => break End::Shutdown,
                    Some(Control::Reauth) => break End::Reauth,
                    // Connecting already.
                    Some(Control::Reconnect) | None => {}
                },
                r = raw.recv() => match r {
                    Some(Raw::Connected(payload)) => return Ok((client, raw, socket_id(&payload))),
                    Some(Raw::Error(payload)) => match classify_error(&payload) {
                        ErrorKind::Rejected(message) => break End::Rejected(message),
                        ErrorKind::Server(message) => self.emit(NetEvent::ServerError(message)),
                        ErrorKind::Transport(text) => break End::Dropped(text),
                    },
                    Some(Raw::Closed) | None => break End::Dropped("closed by the server".into()),
                    Some(other) => tracing::debug!(?other, "event before connect"),
                },
            }
        };
        let _ = timeout(Duration::from_secs(2), client.disconnect()).await;
        Err(end)
    }

    /// Serves one live connection until it ends. It first restores the rooms of the last one,
    /// so that lines queued while the server was away go to rooms the socket is in.
    async fn session(
        &mut self,
        client: &Client,
        mut raw: UnboundedReceiver<Raw>,
        own: Option<String>,
    ) -> End {
        for room in self.rooms.iter().rev() {
            self.queue.push_front(NetCommand::Join(room.clone()));
        }
        if self.left_home {
            self.queue.push_front(NetCommand::Leave(self.config.room.clone()));
        }
        let (ack_tx, mut acks) = unbounded_channel();
        let mut seq: u64 = 0;
        let mut in_flight: Option<InFlight> = None;
        let mut heard = Instant::now();
        // An `error` event held while its request is in flight, and the last refusal an ack
        // reported: the two halves of one refusal.
        let mut refusals = Refusals::default();
        // Sending waits until then after a rate-limited message.
        let mut paused_until: Option<Instant> = None;
        let mut rate_retries: HashMap<u64, u32> = HashMap::new();
        loop {
            let paused = paused_until.filter(|until| *until > Instant::now());
            if in_flight.is_none()
                && paused.is_none()
                && let Some(command) = self.queue.pop_front()
            {
                seq += 1;
                match self.start(client, &ack_tx, seq, command).await {
                    Ok(flight) => in_flight = flight,
                    Err(reason) => return End::Dropped(reason),
                }
                continue;
            }
            let deadline = match (&in_flight, paused) {
                (Some(flight), _) => flight.deadline,
                (None, Some(until)) => until.min(heard + PROBE_AFTER),
                (None, None) => heard + PROBE_AFTER,
            };
            tokio::select! {
                cmd = self.cmds.recv() => match self.take(cmd) {
                    Some(Control::Shutdown) => return End::Shutdown,
                    Some(Control::Reauth) => return End::Reauth,
                    Some(Control::Reconnect) => {
                        refusals.flush(self);
                        return self.dropped(in_flight.take(), "reconnecting as asked");
                    }
                    None => {}
                },
                r = raw.recv() => {
                    heard = Instant::now();
                    match r {
                        None | Some(Raw::Closed) => {
                            refusals.flush(self);
                            return self.dropped(in_flight, "closed by the server");
                        }
                        Some(Raw::Other(payload, read)) => {
                            if let Some(event) = first_value(&payload).cloned().and_then(read) {
                                self.emit(event);
                            }
                        }
                        Some(Raw::Message(payload)) => match chat_message(&payload) {
                            Some(IncomingMessage::Chat(msg)) => {
                                if !msg.id.is_empty() {
                                    let room = if msg.room.is_empty() { &self.config.room } else { &msg.room };
                                    self.last_ids.insert(room.clone(), msg.id.clone());
                                }
                                self.emit(NetEvent::Message(msg))
                            }
                            Some(IncomingMessage::System(notice)) => self.emit(NetEvent::Notice(notice)),
                            None => tracing::warn!(?payload, "unreadable chat.message"),
                        },
                        Some(Raw::Error(payload)) => match classify_error(&payload) {
                            ErrorKind::Server(message) => refusals.error_event(self, message, in_flight.is_some()),
                            ErrorKind::Rejected(message) => return End::Rejected(message),
                            ErrorKind::Transport(text) => {
                                // Often fatal, not always: find out now rather than at the next probe.
                                tracing::info!(%text, "transport error");
                                heard = long_ago();
                            }
                        },
                        Some(Raw::Connected(_)) | Some(Raw::Ack { .. }) => {}
                    }
                }
                ack = acks.recv() => {
                    heard = Instant::now();
                    if let Some(Raw::Ack { seq, payload }) = ack
                        && let Some(flight) = in_flight.take_if(|f| f.seq == seq)
                    {
                        let value = ack_value(&payload);
                        if let NetCommand::SendMessage { local_id, .. } = &flight.command {
                            let tries = rate_retries.entry(*local_id).or_default();
                            if is_rate_limited(&value) && *tries < RATE_RETRIES {
                                // Not a failure yet: again, in its place, once the bucket refills.
                                *tries += 1;
                                refusals.acked(self, Some(errors::RATE_LIMITED.to_owned()));
                                self.queue.push_front(flight.command);
                                paused_until = Some(Instant::now() + RATE_RETRY);
                                continue;
                            }
                            rate_retries.remove(local_id);
                        }
                        let refusal = self.answer(flight.command, Some(value));
                        refusals.acked(self, refusal);
                    }
                }
                _ = sleep_until(deadline) => match in_flight.take() {
                    Some(flight) => {
                        let end = self.timed_out(flight.command, &mut heard);
                        refusals.flush(self);
                        if let Some(reason) = end {
                            return End::Dropped(reason);
                        }
                    }
                    None if heard + PROBE_AFTER > Instant::now() => {}
                    None => match &own {
                        Some(sid) => self.queue.push_back(NetCommand::UserInfo { socket_id: sid.clone(), own: true }),
                        None => heard = Instant::now(),
                    },
                },
            }
        }
    }

    /// Emits one command; `Some` when an ack is now awaited.
    async fn start(
        &mut self,
        client: &Client,
        ack_tx: &UnboundedSender<Raw>,
        seq: u64,
        command: NetCommand,
    ) -> Result<Option<InFlight>, String> {
        let (event, data) = match &command {
            NetCommand::SendMessage { room, text, action, .. } if room.starts_with(QUERY_PREFIX) => {
                let to = room[QUERY_PREFIX.len()..].to_owned();
                let request = DirectRequest { to, message: text.clone(), action: *action };
                (events::CHAT_DIRECT, serde_json::to_value(request).unwrap_or(Value::Null))
            }
            NetCommand::SendMessage { room, text, action, .. } => {
                // The classic form for the handshake room, so a classic server understands it.
                let out = if *room == self.config.room && !action {
                    OutgoingMessage::Text(text.clone())
                } else {
                    OutgoingMessage::ToRoom { room: room.clone(), message: text.clone(), action: *action }
                };
                (events::CHAT_MESSAGE, serde_json::to_value(out).unwrap_or(Value::Null))
            }
            NetCommand::Join(room) => match self.last_ids.get(room) {
                Some(after) => (
                    events::CHAT_JOIN,
                    serde_json::to_value(JoinRequest { room: room.clone(), after: Some(after.clone()) })
                        .unwrap_or(Value::Null),
                ),
                None => (events::CHAT_JOIN, json!(room)),
            },
            NetCommand::Members(room) => (events::CHAT_MEMBERS, json!(room)),
            NetCommand::History { window, before } => {
                let mut query = match window.strip_prefix(QUERY_PREFIX) {
                    Some(peer) => HistoryQuery { with: Some(peer.to_owned()), ..HistoryQuery::default() },
                    None => HistoryQuery { room: Some(window.clone()), ..HistoryQuery::default() },
                };
                query.before = before.clone();
                (events::CHAT_HISTORY, serde_json::to_value(query).unwrap_or(Value::Null))
            }
            NetCommand::Search { room, query } => {
                let query =
                    SearchQuery { room: room.clone(), query: query.clone(), ..SearchQuery::default() };
                (events::CHAT_SEARCH, serde_json::to_value(query).unwrap_or(Value::Null))
            }
            NetCommand::Typing(room) => {
                let sent = client.emit(events::CHAT_TYPING, json!(room)).await;
                return sent.map(|()| None).map_err(|e| format!("sending failed: {e}"));
            }
            NetCommand::Leave(room) => (events::CHAT_LEAVE, json!(room)),
            NetCommand::UserInfo { socket_id, .. } => (events::USER_INFO, json!(socket_id)),
            NetCommand::Reauth(_) | NetCommand::Reconnect | NetCommand::Shutdown => return Ok(None),
        };
        let result = match &command {
            NetCommand::SendMessage { local_id, .. } if !self.message_acks => {
                let sent = client.emit(event, data).await;
                if sent.is_ok() {
                    self.emit(NetEvent::MessageAck { local_id: *local_id, outcome: AckOutcome::NoAck });
                }
                sent.map(|()| None)
            }
            _ => {
                let tx = ack_tx.clone();
                let callback = move |payload: Payload, _: Client| {
                    let _ = tx.send(Raw::Ack { seq, payload });
                    async {}.boxed()
                };
                // The crate's own timeout is never reported; ours is the deadline below.
                client.emit_with_ack(event, data, ACK_TIMEOUT * 2, callback).await.map(|()| {
                    Some(InFlight { seq, command: command.clone(), deadline: Instant::now() + ACK_TIMEOUT })
                })
            }
        };
        result.map_err(|e| {
            let reason = format!("sending failed: {e}");
            // Not sent: keep it for the next connection (messages say so instead).
            match command {
                NetCommand::SendMessage { local_id, .. } => {
                    self.emit(NetEvent::MessageAck { local_id, outcome: AckOutcome::NoAck })
                }
                other => self.queue.push_front(other),
            }
            reason
        })
    }

    /// Reports an answer (`None`: none came) to the UI, and keeps the room list. Returns the
    /// refusal's text when the server refused.
    fn answer(&mut self, command: NetCommand, value: Option<Value>) -> Option<String> {
        let room_result = |value: Option<Value>| match value.map(serde_json::from_value::<RoomAck>) {
            Some(Ok(ack)) => ack.into_result().map(drop),
            Some(Err(_)) => Err("unexpected answer from the server".into()),
            None => Err("no answer from the server (it may not support rooms)".into()),
        };
        let event = match command {
            NetCommand::SendMessage { local_id, .. } => {
                let ack = value.map(serde_json::from_value::<MessageAck>);
                self.acks_seen |= matches!(ack, Some(Ok(_)));
                let outcome = match ack {
                    Some(Ok(ack)) => match ack.into_result() {
                        Ok(stored) => AckOutcome::Stored(stored.map(|s| s.id)),
                        Err(error) => AckOutcome::Failed(error),
                    },
                    Some(Err(_)) | None => AckOutcome::NoAck,
                };
                NetEvent::MessageAck { local_id, outcome }
            }
            NetCommand::Join(room) => {
                let result = room_result(value);
                self.track(&room, result.is_ok());
                NetEvent::Joined { result, room }
            }
            NetCommand::Leave(room) => {
                let result = room_result(value);
                if result.is_ok() {
                    self.track(&room, false);
                }
                NetEvent::Left { result, room }
            }
            NetCommand::UserInfo { socket_id, own } => {
                let info = value.and_then(|v| serde_json::from_value::<Option<UserInfo>>(v).ok()).flatten();
                NetEvent::UserInfo { socket_id, own, info }
            }
            NetCommand::History { window, .. } => NetEvent::History { window, result: page(value) },
            NetCommand::Search { room, query } => {
                NetEvent::SearchResults { room, query, result: page(value) }
            }
            NetCommand::Members(room) => {
                let result = match value.map(serde_json::from_value::<MembersAck>) {
                    Some(Ok(ack)) => ack.into_result().map(|m| m.map(|m| m.members).unwrap_or_default()),
                    Some(Err(_)) => Err("unexpected answer from the server".into()),
                    None => Err("no answer from the server (it may not list members)".into()),
                };
                NetEvent::Members { room, result }
            }
            NetCommand::Typing(_) | NetCommand::Reauth(_) | NetCommand::Reconnect | NetCommand::Shutdown => {
                return None;
            }
        };
        let refusal = match &event {
            NetEvent::MessageAck { outcome: AckOutcome::Failed(error), .. }
            | NetEvent::Joined { result: Err(error), .. }
            | NetEvent::Left { result: Err(error), .. } => Some(error.clone()),
            _ => None,
        };
        self.emit(event);
        refusal
    }

    /// Notes that the socket is now in `room` (`inside`) or not.
    fn track(&mut self, room: &str, inside: bool) {
        if !inside {
            // Joined again later, a room starts afresh (its tab was closed): the last messages,
            // not everything since it was left.
            self.last_ids.remove(room);
        }
        if room == self.config.room {
            self.left_home = !inside;
            return;
        }
        self.rooms.retain(|r| r != room);
        if inside {
            self.rooms.push(room.to_owned());
        }
    }

    /// An ack did not come in time. `Some(reason)` when that means the connection is dead.
    fn timed_out(&mut self, command: NetCommand, heard: &mut Instant) -> Option<String> {
        match command {
            // user.info is in every protocol version: its silence means the link is gone.
            NetCommand::UserInfo { own, .. } => {
                if !own {
                    self.queue.push_front(command);
                }
                Some("no answer from the server".into())
            }
            NetCommand::SendMessage { .. } if heard.elapsed() < ACK_TIMEOUT && !self.acks_seen => {
                tracing::info!("no ack for chat.message while the server talks: classic protocol");
                self.message_acks = false;
                self.answer(command, None);
                None
            }
            other => {
                self.answer(other, None);
                // Silence: ask the server something it always answers, now.
                *heard = long_ago();
                None
            }
        }
    }

    /// The connection ended with `in_flight` unanswered: a message is reported unconfirmed (it
    /// may have been stored, so it is not sent twice), anything else is asked again later.
    fn dropped(&mut self, in_flight: Option<InFlight>, reason: &str) -> End {
        if let Some(flight) = in_flight {
            match flight.command {
                NetCommand::SendMessage { local_id, .. } => {
                    self.emit(NetEvent::MessageAck { local_id, outcome: AckOutcome::NoAck })
                }
                other => self.queue.push_front(other),
            }
        }
        End::Dropped(reason.to_owned())
    }
}

/// The two halves of a refusal (an `error` event and a failing ack), reported once.
#[derive(Default)]
struct Refusals {
    /// An `error` event that came while a request was in flight: its ack may say the same.
    held: Option<String>,
    /// The last refusal an ack reported, and when: its `error` event may still come.
    acked: Option<(String, Instant)>,
}

impl Refusals {
    fn error_event(&mut self, worker: &Worker, message: String, waiting: bool) {
        if self.acked.take_if(|(text, at)| *text == message && at.elapsed() < SAME_REFUSAL).is_some() {
            return;
        }
        if !waiting {
            worker.emit(NetEvent::ServerError(message));
        } else if let Some(earlier) = self.held.replace(message) {
            worker.emit(NetEvent::ServerError(earlier));
        }
    }

    /// An answer came, refusing with `refusal` or not.
    fn acked(&mut self, worker: &Worker, refusal: Option<String>) {
        match refusal {
            Some(text) if self.held.as_deref() == Some(&text) => self.held = None,
            Some(text) => {
                self.flush(worker);
                self.acked = Some((text, Instant::now()));
            }
            None => self.flush(worker),
        }
    }

    /// A held `error` event that no ack explains is reported as it is.
    fn flush(&mut self, worker: &Worker) {
        if let Some(message) = self.held.take() {
            worker.emit(NetEvent::ServerError(message));
        }
    }
}

/// Whether an ack is the rate limit's refusal.
fn is_rate_limited(value: &Value) -> bool {
    serde_json::from_value::<MessageAck>(value.clone())
        .ok()
        .and_then(|ack| ack.into_result().err())
        .is_some_and(|error| error == errors::RATE_LIMITED)
}

/// A time `PROBE_AFTER` ago: makes the next loop turn probe the connection.
fn long_ago() -> Instant {
    let now = Instant::now();
    now.checked_sub(PROBE_AFTER).unwrap_or(now)
}

/// `server` with the Socket.IO path and `?room=` (rust_socketio adds `/socket.io/` to a bare
/// host).
/// A `chat.history` or `chat.search` answer.
fn page(value: Option<Value>) -> Result<Page, String> {
    match value.map(serde_json::from_value::<PageAck>) {
        Some(Ok(ack)) => ack.into_result().map(Option::unwrap_or_default),
        Some(Err(_)) => Err("unexpected answer from the server".into()),
        None => Err("no answer from the server (it may keep no history)".into()),
    }
}

fn socket_url(server: &str, room: &str) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(server).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the scheme must be http or https".into());
    }
    url.query_pairs_mut().append_pair(ROOM_QUERY_KEY, room);
    Ok(url)
}

/// A message or a notice (no `username`), dated on arrival when the server sent no time.
fn chat_message(payload: &Payload) -> Option<IncomingMessage> {
    let mut msg: IncomingMessage = serde_json::from_value(first_value(payload)?.clone()).ok()?;
    let sent = match &mut msg {
        IncomingMessage::Chat(m) => &mut m.sent,
        IncomingMessage::System(n) => &mut n.sent,
    };
    if sent.is_empty() {
        // A classic server sends no time: the arrival time is the best we have.
        *sent = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    }
    Some(msg)
}

#[cfg(test)]
mod tests {
    use super::{wire::CONNECT_ERROR_PREFIX, *};

    #[test]
    fn a_room_left_forgets_where_to_resume_it() {
        let (_cmd_tx, cmds) = unbounded_channel();
        let (events, _event_rx) = unbounded_channel();
        let config = NetConfig { server: "http://x".into(), room: "home".into(), token: Token::new("t") };
        let mut worker = Worker::new(config, cmds, events);
        worker.last_ids =
            HashMap::from([("dev".to_owned(), "i1".to_owned()), ("home".to_owned(), "i2".to_owned())]);
        worker.track("dev", true);
        assert_eq!(worker.last_ids.get("dev").map(String::as_str), Some("i1"));
        worker.track("dev", false);
        worker.track("home", false);
        assert!(worker.last_ids.is_empty());
        assert!(worker.left_home && worker.rooms.is_empty());
    }

    #[test]
    fn rejection_frames_give_the_servers_exact_message() {
        let frame =
            format!("{CONNECT_ERROR_PREFIX}{{\"message\":\"{}\"}}", shared::errors::AUTH_INVALID_TOKEN);
        let ErrorKind::Rejected(m) = classify_error(&Payload::from(json!(frame))) else {
            panic!("not a rejection")
        };
        assert_eq!(m, shared::errors::AUTH_INVALID_TOKEN);
        let ErrorKind::Server(m) =
            classify_error(&Payload::from(json!({"message": "You are not in room x"})))
        else {
            panic!("not a server error")
        };
        assert_eq!(m, "You are not in room x");
        assert!(matches!(classify_error(&Payload::from(json!("Websocket error"))), ErrorKind::Transport(_)));
    }

    #[test]
    fn acks_events_and_the_connect_packet_unwrap() {
        let ack = Payload::Text(vec![json!([{"success": true, "id": "m1"}])]);
        assert_eq!(ack_value(&ack), json!({"success": true, "id": "m1"}));
        assert_eq!(ack_value(&Payload::Text(vec![json!([null])])), Value::Null);
        assert_eq!(socket_id(&Payload::Text(vec![json!({"sid": "abc"})])), Some("abc".into()));
        assert_eq!(socket_id(&Payload::Text(vec![json!("")])), None);
        let Some(IncomingMessage::Chat(classic)) =
            chat_message(&Payload::Text(vec![json!({"username": "bob", "message": "hi"})]))
        else {
            panic!("a classic message parses as chat");
        };
        assert_eq!((classic.username.as_str(), classic.room.as_str()), ("bob", ""));
        assert!(chrono::DateTime::parse_from_rfc3339(&classic.sent).is_ok(), "arrival time filled in");
        let notice = json!({"message": "User \"bob\" joined room \"dev\"", "room": "dev"});
        let Some(IncomingMessage::System(notice)) = chat_message(&Payload::Text(vec![notice])) else {
            panic!("a message without username is a notice");
        };
        assert_eq!(notice.room, "dev");
        assert!(!notice.sent.is_empty(), "arrival time filled in");
    }

    #[test]
    fn socket_urls_carry_the_room() {
        let url = socket_url("http://localhost:3001", "聊天 room").expect("valid");
        assert_eq!(url.as_str(), "http://localhost:3001/?room=%E8%81%8A%E5%A4%A9+room");
        assert!(socket_url("ftp://x", "r").is_err());
        assert!(socket_url("not a url", "r").is_err());
    }

    #[test]
    fn backoff_is_jittered_from_the_first_try_and_capped_at_30_s() {
        let runs: Vec<Vec<Duration>> = (0..20).map(|_| fresh_backoff().take(12).collect()).collect();
        for run in &runs {
            assert!((BACKOFF_FIRST..BACKOFF_FIRST * 2).contains(&run[0]), "{run:?}");
            assert!(run.iter().all(|d| *d <= Duration::from_secs(30)), "{run:?}");
            assert!(run[11] >= BACKOFF_LAST, "{run:?}");
        }
        // Clients that lost the same server do not all retry at the same moments.
        let firsts: std::collections::HashSet<Duration> = runs.iter().map(|r| r[0]).collect();
        assert!(firsts.len() > 10, "{firsts:?}");
    }
}
