//! The machinery every client event shares, written once.
//!
//! An event is declared in one place, an impl of [`ClientEvent`]: its name (from
//! `shared::events`), how its arguments parse ([`FromArgs`]), its ack type ([`Acked`]) and one
//! handler; [`queueing`] gives its handler, which [`Dispatch`] finds by name. What every event
//! gets from here:
//!
//! - **Order.** socketioxide runs each async handler in a task of its own, so two events of one
//!   socket could be handled out of order. Instead the handler (`queue`) runs synchronously as
//!   the packet is read and only queues a [`Job`] in the socket's [`Queue`]; one task at a time
//!   runs a socket's jobs in arrival order. It exists only while there are jobs: an idle socket
//!   has no task and no queue allocated (a task per socket was ~1.5 KiB of each idle socket).
//! - **Rate limit.** Checked as the packet is read; a refused event is not queued.
//! - **Refusals.** A handler's `Err(text)`, arguments that do not parse, or the rate limit give
//!   the client an `error` event `{message}` and a failing ack of the event's own shape
//!   ([`Acked::refused`]); the socket stays connected.
//! - **Slow answers.** A handler may do its ordered part and hand back the rest as
//!   [`Answer::Later`] (a store write, a lookup): that future runs in a task of its own, so the
//!   socket's next event need not wait for it.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard},
};

use serde::Serialize;
use serde_json::Value;
use shared::{errors, inbound::AllArgs, payload::Ack};
use socketioxide::{
    SocketIo,
    adapter::Adapter,
    extract::{AckSender, Event, SocketRef, State, TryData},
    handler::{FromMessageParts, MessageHandler, Value as RawValue},
    socket::Socket,
};

use super::{Session, send_error};
use crate::{state::AppState, telemetry};

/// What a handler works with: the socket, the server, the shared state and the socket's session.
pub struct Cx<A: Adapter> {
    pub socket: SocketRef<A>,
    pub io: SocketIo<A>,
    pub state: AppState,
    pub session: Arc<Session<A>>,
}

/// A handler's outcome: the ack's answer, or the text of a refusal.
pub type Outcome<T> = Result<T, String>;

/// A handler's answer: known now, or a future that finishes the event off the socket's queue.
pub enum Answer<T> {
    Now(Outcome<T>),
    Later(Pin<Box<dyn Future<Output = Outcome<T>> + Send>>),
}

impl<T> From<Outcome<T>> for Answer<T> {
    fn from(outcome: Outcome<T>) -> Self {
        Answer::Now(outcome)
    }
}

/// An ack type: what a refusal of its event answers.
pub trait Acked: Serialize + Send + 'static {
    /// The failing ack for `error`, in the event's own shape.
    fn refused(error: &str) -> Self;
}

impl<T: Serialize + Send + 'static> Acked for Ack<T> {
    fn refused(error: &str) -> Self {
        Ack::failed(error)
    }
}

/// An event's arguments, read from every argument of the packet (the ack callback excluded).
pub trait FromArgs: Sized + Send + 'static {
    /// # Errors
    /// The client's error text when the arguments are none of the event's shapes.
    fn from_args(args: Vec<Value>) -> Result<Self, String>;
}

/// One client event: declared once, handled in the socket's order.
pub trait ClientEvent: 'static {
    /// The event's name, from `shared::events`.
    const NAME: &'static str;
    type Args: FromArgs;
    type Ack: Acked;
    /// Handles one event after every earlier event of the same socket.
    fn handle<A: Adapter>(cx: &Cx<A>, args: Self::Args) -> impl Future<Output = Answer<Self::Ack>> + Send;
}

/// One queued event, run by the socket's worker with its [`Cx`].
pub type Job<A> = Box<dyn FnOnce(Arc<Cx<A>>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// What handles one event as its packet is read: `queue` for one [`ClientEvent`].
pub type Queueing<A> = fn(Arc<Socket<A>>, RawValue, Option<i64>);

/// The handler that queues event `E`.
pub fn queueing<E: ClientEvent, A: Adapter>() -> Queueing<A> {
    queue::<E, A>
}

/// A socket's one handler (socketioxide's fallback, registered by the auth middleware before
/// CONNECT is sent): looks the event's name up with its function and queues the event. One
/// handler instead of one per event spares each socket a map of them (~0.6 KiB, and the map's
/// growth at every connect); a name the function does not know is ignored, as socketioxide
/// ignores events without a handler.
pub struct Dispatch<A: Adapter>(pub fn(&str) -> Option<Queueing<A>>);

/// Marks [`Dispatch`]'s `MessageHandler` impl apart from socketioxide's closure impls.
pub struct Dispatched;

impl<A: Adapter> MessageHandler<A, Dispatched> for Dispatch<A> {
    fn call(&self, s: Arc<Socket<A>>, mut v: RawValue, ack_id: Option<i64>) {
        let Ok(Event(name)) = Event::from_message_parts(&s, &mut v, &ack_id) else { return };
        if let Some(queue) = (self.0)(&name) {
            queue(s, v, ack_id);
        }
    }
}

/// Answers `ack` with `outcome`; a refusal also gets an `error` event.
fn reply<A: Adapter, T: Acked>(
    event: &'static str,
    socket: &SocketRef<A>,
    ack: AckSender<A>,
    outcome: Outcome<T>,
) {
    let result = if outcome.is_ok() { "ok" } else { "refused" };
    metrics::counter!(telemetry::ACKS, "event" => event, "outcome" => result).increment(1);
    match outcome {
        Ok(answer) => ack.send(&answer).ok(),
        Err(error) => {
            tracing::debug!(sid = %socket.id, "request refused: {error}");
            send_error(socket, &error);
            ack.send(&T::refused(&error)).ok()
        }
    };
}

/// Queues event `E` as its packet is read (see the module docs).
fn queue<E: ClientEvent, A: Adapter>(s: Arc<Socket<A>>, mut v: RawValue, ack_id: Option<i64>) {
    let Ok(TryData(args)) = TryData::<AllArgs>::from_message_parts(&s, &mut v, &ack_id);
    let Ok(ack) = AckSender::from_message_parts(&s, &mut v, &ack_id);
    let socket = SocketRef::from(s.clone());
    let Some(session) = socket.extensions.get::<Arc<Session<A>>>() else { return };
    if let Some(admin) = &session.admin {
        admin.count("packetsIn", None);
    }
    if session.shutting_down() {
        return reply(E::NAME, &socket, ack, Err::<E::Ack, _>(errors::SERVICE_UNAVAILABLE.to_string()));
    }
    // Over its event rate, or its queue full: the same refusal. Only this socket's reader
    // queues, so there is still room when the job is pushed below.
    if !session.allow_event() || session.queue.lock().jobs.len() >= QUEUE_CAPACITY {
        telemetry::count(telemetry::RATE_LIMITED, "kind", "message");
        return reply(E::NAME, &socket, ack, Err::<E::Ack, _>(errors::RATE_LIMITED.to_string()));
    }
    // Arguments that cannot even be read (a broken binary attachment) count as none.
    let args = args.map(|a| a.0).unwrap_or_default();
    if let Some(admin) = &session.admin {
        admin.live("event_received", || {
            let event = std::iter::once(Value::from(E::NAME)).chain(args.iter().cloned()).collect();
            vec![
                Value::from("/"),
                Value::from(socket.id.to_string()),
                Value::Array(event),
                crate::admin::now(),
            ]
        });
    }
    let args = E::Args::from_args(args);
    let mut queue = session.queue.lock();
    queue.jobs.push_back(Box::new(move |cx| Box::pin(run::<E, A>(cx, args, ack))));
    let start = !std::mem::replace(&mut queue.running, true);
    drop(queue);
    if start {
        match (
            SocketIo::from_message_parts(&s, &mut v, &ack_id),
            State::<AppState>::from_message_parts(&s, &mut v, &ack_id),
        ) {
            (Ok(io), Ok(State(state))) => {
                let cx = Arc::new(Cx { socket, io, state, session });
                cx.state.tasks.clone().spawn(drain(cx));
            }
            // Cannot happen (the state is set at start-up); the jobs wait for the next event.
            _ => {
                tracing::error!(sid = %socket.id, "no server state to run the socket's events");
                session.queue.lock().running = false;
            }
        }
    }
}

async fn run<E: ClientEvent, A: Adapter>(cx: Arc<Cx<A>>, args: Result<E::Args, String>, ack: AckSender<A>) {
    let answer = match args {
        Ok(args) => E::handle(&cx, args).await,
        Err(error) => Answer::Now(Err(error)),
    };
    match answer {
        Answer::Now(outcome) => reply(E::NAME, &cx.socket, ack, outcome),
        Answer::Later(finish) => {
            let socket = cx.socket.clone();
            cx.state.tasks.spawn(async move { reply(E::NAME, &socket, ack, finish.await) });
        }
    }
}

/// Events queued per socket before further ones are refused as too many (the rate limit keeps
/// it short; under `--no-rate-limits` a load test may fill it).
const QUEUE_CAPACITY: usize = 1024;

/// A socket's events waiting to be handled, and whether a task is handling them.
pub struct Queue<A: Adapter>(Mutex<Jobs<A>>);

struct Jobs<A: Adapter> {
    jobs: VecDeque<Job<A>>,
    /// A task is running the jobs (or the connect handler, until the socket is in its rooms).
    running: bool,
}

impl<A: Adapter> Default for Queue<A> {
    /// Held by the connect handler: events wait until it calls [`drain`].
    fn default() -> Self {
        Self(Mutex::new(Jobs { jobs: VecDeque::new(), running: true }))
    }
}

impl<A: Adapter> Queue<A> {
    /// The lock is held only to push or pop, never across an await.
    fn lock(&self) -> MutexGuard<'_, Jobs<A>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs `cx`'s queued events in order, then ends (the next event starts a new task). Events
/// read before a disconnect or the shutdown are still handled: nothing is lost.
pub async fn drain<A: Adapter>(cx: Arc<Cx<A>>) {
    loop {
        let job = {
            let mut queue = cx.session.queue.lock();
            match queue.jobs.pop_front() {
                Some(job) => job,
                None => {
                    queue.running = false;
                    // What a burst grew is given back.
                    if queue.jobs.capacity() > 16 {
                        queue.jobs = VecDeque::new();
                    }
                    return;
                }
            }
        };
        job(cx.clone()).await;
    }
}
