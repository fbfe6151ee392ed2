//! The full-screen client: merges terminal input, network events and a one-second tick into
//! [`app::Event`]s, applies them, performs the effects and draws.

use std::{process::ExitCode, time::Duration};

use anyhow::Context;
use tokio::sync::mpsc::unbounded_channel;

use crate::{
    app::{App, Effect, Event},
    auth::{AuthClient, LoginOptions, Session, Token, TokenStore},
    config::Config,
    keymap,
    net::{Net, NetCommand, NetConfig, NetEvent},
    tui::Tui,
    ui::{self, lines::Look},
};

/// Network events applied before the next frame is drawn: a burst of history is drawn once,
/// not once per message.
const EVENTS_PER_FRAME: usize = 2000;

pub struct Options {
    pub login: LoginOptions,
    pub room: String,
    pub scrollback: usize,
    /// The config file's settings.
    pub config: Config,
}

enum Exit {
    Quit,
    LoggedOut,
}

/// Starts the network task, asking it to join the rooms the app has open beside the
/// handshake's.
fn start_net(server: &str, room: &str, token: Token, app: &App) -> Net {
    let net = Net::spawn(NetConfig { server: server.to_owned(), room: room.to_owned(), token });
    for room in app.rooms_to_join() {
        net.send(NetCommand::Join(room));
    }
    net
}

/// What the tasks beside the loop answer.
enum Answer {
    /// From a login of the form: the session to store, or why not.
    Login(Result<Session, String>),
    Event(Event),
}

/// The next network event; never, while there is no network task yet.
async fn next_net_event(net: &mut Option<Net>) -> Option<NetEvent> {
    match net {
        Some(net) => net.events.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs the full screen: with `session`, connected at once; without, the login form first.
pub async fn run(opts: Options, session: Option<Session>, store: TokenStore) -> anyhow::Result<ExitCode> {
    // Full screen only: in line mode the hook's escape codes would land in a script's output.
    crate::tui::install_panic_hook();
    let server = opts.login.server.clone();
    let config = &opts.config;
    let mut tui = Tui::new(config.mouse.unwrap_or(true)).context("cannot set up the terminal")?;
    let username = session.as_ref().map(|s| s.username.clone()).unwrap_or_default();
    let mut app = App::new(&server, &username, &opts.room, opts.scrollback);
    app.look = Look::new(config.time_format.as_deref(), &config.nick_colors);
    // The Linux console takes neither OSC 8 nor OSC 777/9.
    let plain_console = matches!(std::env::var("TERM").as_deref(), Ok("linux" | "dumb"));
    let (bell, notify) = (config.bell.unwrap_or(true), config.notify.unwrap_or(!plain_console));
    app.look.hyperlinks = config.hyperlinks.unwrap_or(!plain_console);
    app.show_join_part = config.join_part_lines.unwrap_or(true);
    app.show_typing = config.typing.unwrap_or(true);
    let mut title = String::new();
    app.open_rooms(&config.rooms);
    let mut net = session.map(|s| start_net(&server, &opts.room, s.token, &app));
    // Logins from the in-app form (and the check that the server answers) run beside the
    // loop and answer here.
    let (answers_tx, mut answers) = unbounded_channel::<Answer>();
    if net.is_none() {
        app.start_logged_out(opts.login.username.as_deref(), opts.login.signup);
        let (server, answer) = (server.clone(), answers_tx.clone());
        tokio::spawn(async move {
            let reachable = match AuthClient::new(&server) {
                Ok(client) => client.check().await,
                Err(e) => Err(e),
            };
            let _ = answer.send(Answer::Event(Event::Reachable(reachable.map_err(|e| e.to_string()))));
        });
    }
    let (w, h) = tui.size()?;
    let (width, height) = ui::message_pane_size(w, h);
    app.update(Event::Resize { width, height });
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    let exit = 'main: loop {
        tui.draw(&app)?;
        if app.title() != title {
            title = app.title();
            tui.set_title(&title);
        }
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
            event = next_net_event(&mut net) => match event {
                Some(event) => {
                    batch.push(Event::Net(event));
                    while batch.len() < EVENTS_PER_FRAME
                        && let Some(more) = net.as_mut().and_then(|n| n.events.try_recv().ok())
                    {
                        batch.push(Event::Net(more));
                    }
                }
                None => break 'main Exit::Quit,
            },
            _ = ticks.tick() => batch.push(Event::Tick(chrono::Utc::now())),
            Some(answer) = answers.recv() => match answer {
                Answer::Event(event) => batch.push(event),
                // Stored only now: a failed attempt leaves the old token where it was.
                Answer::Login(Ok(session)) => match store.set(&server, &session) {
                    Ok(()) => {
                        match &net {
                            Some(net) => net.send(NetCommand::Reauth(session.token)),
                            None => net = Some(start_net(&server, &opts.room, session.token, &app)),
                        }
                        batch.push(Event::LoggedIn(Ok(session.username)));
                    }
                    Err(e) => batch.push(Event::LoggedIn(Err(e.to_string()))),
                },
                Answer::Login(Err(why)) => batch.push(Event::LoggedIn(Err(why))),
            },
        }
        for event in batch {
            for effect in app.update(event) {
                match effect {
                    Effect::Net(command) => {
                        if let Some(net) = &net {
                            net.send(command);
                        }
                    }
                    Effect::Quit => break 'main Exit::Quit,
                    Effect::Alert { title, body } => tui.alert(bell, notify, &title, &body),
                    Effect::Logout => {
                        store.remove(&server)?;
                        break 'main Exit::LoggedOut;
                    }
                    Effect::Login { credentials, signup } => {
                        let (server, answer) = (server.clone(), answers_tx.clone());
                        tokio::spawn(async move {
                            let session = match AuthClient::new(&server) {
                                Ok(client) => client.session(&credentials, signup).await,
                                Err(e) => Err(e),
                            };
                            let _ = answer.send(Answer::Login(session.map_err(|e| e.to_string())));
                        });
                    }
                }
            }
        }
    };
    if let Some(net) = net {
        net.shutdown().await;
    }
    drop(tui);
    if let Exit::LoggedOut = exit {
        println!("Logged out of {server}.");
    }
    Ok(ExitCode::SUCCESS)
}
