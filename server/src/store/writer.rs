//! Batches message inserts so that storing never sits on the broadcast path.
//!
//! Handlers hand a message to [`MessageWriter::enqueue`] and broadcast at once; one task
//! drains the queue, writes whatever has accumulated in one `insert_messages` call, and only
//! then answers each message's receiver, which is what the `chat.message` ack waits on.

use std::sync::Arc;

use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
    time::{Duration, Instant},
};

use super::{Message, Store, StoreError};

/// Most messages written in one call; bounds the latency of the first message in a batch.
const MAX_BATCH: usize = 512;

/// Least time between two writes (group commit). A message after a quiet spell is written at
/// once; one that comes right behind a write waits out the rest, and what arrives meanwhile
/// joins its batch. Under a steady load that is one transaction (and one hand-off to the
/// store's thread and back) per interval instead of one per message or two. On one node only
/// the acks wait for it (the broadcast has gone out); on several, broadcasts wait for the
/// store, so for this too. 200 clients / 10 rooms / 50 ms (4 000 messages/s, chat-bench):
/// 162 000 -> 256 000 deliveries per server CPU-second, same delivery latency.
const COMMIT_INTERVAL: Duration = Duration::from_millis(5);

/// Resolves once the message is stored (`Ok`) or its batch failed.
pub type Stored = oneshot::Receiver<Result<(), StoreError>>;

enum Command {
    Insert(Message, oneshot::Sender<Result<(), StoreError>>),
    /// Answers after everything queued before it has been written (or has failed).
    Flush(oneshot::Sender<()>),
}

/// Cheap-to-clone handle to the writer task.
#[derive(Clone)]
pub struct MessageWriter {
    tx: mpsc::Sender<Command>,
}

impl MessageWriter {
    /// Starts the writer task; `queue` bounds the messages waiting to be written, after which
    /// senders wait (back-pressure instead of unbounded memory).
    pub fn spawn(store: Arc<dyn Store>, queue: usize) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(queue);
        (Self { tx }, tokio::spawn(run(store, rx)))
    }

    /// Queues `message`; the receiver tells whether it was stored.
    pub async fn enqueue(&self, message: Message) -> Stored {
        let (done, stored) = oneshot::channel();
        if let Err(mpsc::error::SendError(Command::Insert(_, done))) =
            self.tx.send(Command::Insert(message, done)).await
        {
            let _ = done.send(Err(StoreError::Unavailable("server is shutting down".into())));
        }
        stored
    }

    /// Waits until every message queued so far has been written or has failed.
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.tx.send(Command::Flush(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Command>) {
    let mut commands = Vec::with_capacity(MAX_BATCH);
    let mut last_write: Option<Instant> = None;
    while rx.recv_many(&mut commands, MAX_BATCH).await > 0 {
        if let Some(at) = last_write.map(|t| t + COMMIT_INTERVAL).filter(|at| *at > Instant::now()) {
            tokio::time::sleep_until(at).await;
            while commands.len() < MAX_BATCH {
                let Ok(command) = rx.try_recv() else { break };
                commands.push(command);
            }
        }
        let mut batch = Vec::with_capacity(commands.len());
        let mut waiting = Vec::with_capacity(commands.len());
        let mut flushes = Vec::new();
        for command in commands.drain(..) {
            match command {
                Command::Insert(message, done) => {
                    batch.push(message);
                    waiting.push(done);
                }
                Command::Flush(done) => flushes.push(done),
            }
        }
        if !batch.is_empty() {
            crate::telemetry::writer_batch(batch.len());
            let result = store.insert_messages(&batch).await;
            if let Err(e) = &result {
                tracing::error!(messages = batch.len(), "storing messages failed: {e}");
            }
            for done in waiting {
                let _ = done.send(match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(StoreError::Unavailable(e.to_string())),
                });
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
        last_write = Some(Instant::now());
    }
}
