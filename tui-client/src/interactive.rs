//! The full-screen client: merges terminal input, network events and a one-second tick into
//! [`app::Event`]s, applies them, performs the effects and draws.

use std::{process::ExitCode, time::Duration};

use anyhow::Context;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::{
    app::{App, Effect, Event},
    auth::{AuthClient, LoginOptions, Session, TokenStore},
    keymap,
    net::{self, NetCommand, NetConfig},
    tui::Tui,
    ui,
};

/// Network events applied before the next frame is drawn: a burst of history is drawn once,
/// not once per message.
const EVENTS_PER_FRAME: usize = 2000;

pub struct Options {
    pub login: LoginOptions,
    pub room: String,
    pub scrollback: usize,
}

enum Exit {
    Quit,
    LoggedOut,
}

pub async fn run(opts: Options, session: Session, store: TokenStore) -> anyhow::Result<ExitCode> {
    let server = opts.login.server.clone();
    let mut tui = Tui::new().context("cannot set up the terminal")?;
    let (cmds, mut net_events, net_task) =
        net::spawn(NetConfig { server: server.clone(), room: opts.room.clone(), token: session.token });
    let mut app = App::new(&server, &session.username, &opts.room, opts.scrollback);
    let (w, h) = tui.size()?;
    let (width, height) = ui::message_pane_size(w, h);
    app.update(Event::Resize { width, height });
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    // Logins from the in-app form run beside the loop and answer here.
    let (logins_tx, mut logins) = unbounded_channel::<Result<Session, String>>();
    let exit = 'main: loop {
        tui.draw(&app)?;
        let mut batch = Vec::new();
        tokio::select! {
            input = tui.next_event() => match input {
                Some(Ok(crossterm::event::Event::Resize(w, h))) => {
                    let (width, height) = ui::message_pane_size(w, h);
                    batch.push(Event::Resize { width, height });
                }
                Some(Ok(input)) => batch.extend(keymap::map(&input, &app).map(Event::Action)),
                Some(Err(e)) => return Err(e).context("reading the terminal"),
                None => break 'main Exit::Quit,
            },
            event = net_events.recv() => match event {
                Some(event) => {
                    batch.push(Event::Net(event));
                    while batch.len() < EVENTS_PER_FRAME
                        && let Ok(more) = net_events.try_recv()
                    {
                        batch.push(Event::Net(more));
                    }
                }
                None => break 'main Exit::Quit,
            },
            _ = ticks.tick() => batch.push(Event::Tick(chrono::Utc::now())),
            Some(outcome) = logins.recv() => {
                // Stored only now: a failed attempt leaves the old token where it was.
                let outcome = outcome.and_then(|session| {
                    store.set(&server, &session).map_err(|e| e.to_string())?;
                    send(&cmds, NetCommand::Reauth(session.token));
                    Ok(session.username)
                });
                batch.push(Event::LoggedIn(outcome));
            }
        }
        for event in batch {
            for effect in app.update(event) {
                match effect {
                    Effect::Net(command) => send(&cmds, command),
                    Effect::Quit => break 'main Exit::Quit,
                    Effect::Logout => {
                        store.remove(&server)?;
                        break 'main Exit::LoggedOut;
                    }
                    Effect::Login { credentials, signup } => {
                        let (server, answer) = (server.clone(), logins_tx.clone());
                        tokio::spawn(async move {
                            let session = match AuthClient::new(&server) {
                                Ok(client) => client.session(&credentials, signup).await,
                                Err(e) => Err(e),
                            };
                            let _ = answer.send(session.map_err(|e| e.to_string()));
                        });
                    }
                }
            }
        }
    };
    send(&cmds, NetCommand::Shutdown);
    let _ = tokio::time::timeout(Duration::from_secs(3), net_task).await;
    drop(tui);
    if let Exit::LoggedOut = exit {
        println!("Logged out of {server}.");
    }
    Ok(ExitCode::SUCCESS)
}

fn send(cmds: &UnboundedSender<NetCommand>, command: NetCommand) {
    if cmds.send(command).is_err() {
        tracing::warn!("network task has stopped");
    }
}
