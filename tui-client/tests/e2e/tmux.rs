//! End to end on a real terminal: `chat-tui` full screen inside tmux, driven with `send-keys`
//! and read with `capture-pane` (polled, each wait bounded), against the real server, with
//! other users as `--plain` clients. Needs tmux (scripts/install-test-deps.sh installs it).

use crate::support;

use std::{
    process::Command,
    thread,
    time::{Duration, Instant},
};

use support::{Home, PASSWORD, Plain, Server, WAIT, signup};

/// A private tmux server (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Tmux { socket: format!("chat-tui-e2e-{}-{n}", std::process::id()) }
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux is required for this test (scripts/install-test-deps.sh installs it)");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "main", "-l", text]);
    }

    fn key(&self, key: &str) {
        self.run(&["send-keys", "-t", "main", key]);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "main"])
    }

    /// Polls the screen until `ok` holds; panics with the last screen after [`WAIT`].
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "waited {WAIT:?} for {what}; screen:\n{screen}");
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_text(&self, needle: &str) -> String {
        self.wait_for(needle, |s| s.contains(needle))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-L").arg(&self.socket).arg("kill-server").output();
    }
}

/// Starts `chat-tui` full screen in a new tmux session for `home`'s stored login.
fn start_client(tmux: &Tmux, home: &Home, url: &str, room: &str) {
    let exports: String = home.env().iter().map(|(k, v)| format!("export {k}='{v}'\n")).collect();
    let script = home.path().join("run.sh");
    let body = format!(
        "{exports}unset CHAT_PASSWORD CHAT_SERVER RUST_LOG\n'{bin}' --server '{url}' --room {room}\necho END\nexec sleep 600\n",
        bin = support::BIN
    );
    std::fs::write(&script, body).expect("write script");
    let script = script.to_str().expect("utf-8 path");
    tmux.run(&["new-session", "-d", "-s", "main", "-x", "100", "-y", "30", "sh", script]);
}

/// The line of `screen` that contains `needle`.
fn line_with<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen.lines().find(|l| l.contains(needle)).unwrap_or_default()
}

#[test]
fn full_screen_login_send_receive_join_and_quit_cleanly() {
    let server = Server::start();
    let url = server.url.as_str();
    let home = Home::new();
    // The script the pane runs: the client, then how it left the terminal.
    let exports: String = home.env().iter().map(|(k, v)| format!("export {k}='{v}'\n")).collect();
    let script = home.path().join("run.sh");
    std::fs::write(
        &script,
        format!(
            "{exports}unset CHAT_PASSWORD CHAT_SERVER RUST_LOG\n\
             '{bin}' --server '{url}' --room lobby\n\
             echo \"EXIT=$?\"\n\
             echo \"TTY $(stty -a | tr ' ;' '\\n\\n' | grep -E '^-?(icanon|echo)$' | tr '\\n' ' ')\"\n\
             echo END\n\
             exec sleep 600\n",
            bin = support::BIN
        ),
    )
    .expect("write script");
    let tmux = Tmux::new();
    let script = script.to_str().expect("utf-8 path");
    tmux.run(&["new-session", "-d", "-s", "main", "-x", "100", "-y", "30", "sh", script]);

    // First start: no token, so the full screen opens on its login form; F2 makes it a
    // sign-up. Mistakes are shown in the form and asked again.
    tmux.wait_text("not logged in");
    tmux.wait_text("Log in");
    tmux.key("F2");
    tmux.wait_text("Sign up");
    tmux.type_text("te");
    tmux.key("Enter");
    tmux.type_text(PASSWORD);
    tmux.key("Enter");
    tmux.type_text(PASSWORD);
    tmux.key("Enter");
    tmux.wait_text("Username must be");
    tmux.key("BTab");
    tmux.key("BTab");
    tmux.type_text("ss");
    tmux.key("Enter");
    let screen = tmux.wait_text(&format!("● #lobby · tess · connected · {url}"));
    assert!(!screen.contains(PASSWORD), "the password is never shown");
    assert!(home.token_file().exists());
    // The info pane gets our socket id and rooms from user.info.
    let screen = tmux.wait_for("own socket id and rooms", |s| {
        let mut lines = s.lines().skip_while(|l| !l.ends_with("│socket id"));
        let sid = lines.nth(1).and_then(|l| l.rsplit('│').next()).unwrap_or("").trim().to_owned();
        !sid.is_empty() && sid != "–" && s.contains("│ #lobby")
    });
    assert!(screen.contains("│ tess"), "{screen}");

    // Send: pending until the ack, then confirmed.
    tmux.type_text("hello from tmux 你好");
    tmux.key("Enter");
    tmux.wait_for("own message confirmed", |s| {
        let line = line_with(s, "tess │ hello from tmux 你好");
        !line.is_empty() && !line.contains("(sending)")
    });

    // Receive from another client in the same room.
    let bob_home = Home::new();
    signup(&bob_home, url, "bob");
    let mut bob = Plain::spawn(&bob_home, url, "bob", PASSWORD, &["--room", "lobby"]).connected();
    bob.send("hi tess");
    tmux.wait_text("bob │ hi tess");

    // Join a second room: a new tab, a note, the info pane lists it.
    tmux.type_text("/join second");
    tmux.key("Enter");
    tmux.wait_for("second room joined", |s| {
        s.contains("2:second") && s.contains("You joined #second") && s.contains("│ #second")
    });
    let cyd_home = Home::new();
    signup(&cyd_home, url, "cyd");
    let mut cyd = Plain::spawn(&cyd_home, url, "cyd", PASSWORD, &["--room", "second"]).connected();
    cyd.send("over in second");
    tmux.wait_text("cyd │ over in second");
    // Lobby traffic while second is shown counts as unread.
    bob.send("are you there?");
    tmux.wait_text("1:lobby(1)");
    tmux.key("M-1");
    tmux.wait_text("bob │ are you there?");

    // /login from the full screen: an in-app form; a wrong password is asked again and never
    // costs the stored token; the right one logs in again without leaving the screen.
    let token_before = std::fs::read_to_string(home.token_file()).expect("token file");
    tmux.type_text("/login");
    tmux.key("Enter");
    tmux.wait_text("Log in");
    tmux.type_text("not the password");
    tmux.key("Enter");
    let screen = tmux.wait_text("Invalid username or password");
    assert!(screen.contains("· connected ·"), "still full screen and connected: {screen}");
    assert!(!screen.contains("not the password"), "{screen}");
    assert_eq!(std::fs::read_to_string(home.token_file()).expect("token file"), token_before);
    tmux.type_text(PASSWORD);
    tmux.key("Enter");
    // The first login (the sign-up) said so too: wait for the second.
    tmux.wait_for("logged in again", |s| {
        s.matches("Logged in as tess").count() == 2 && !s.contains("Log in ")
    });
    tmux.wait_text(&format!("● #lobby · tess · connected · {url}"));

    // Esc twice quits; the terminal is back to normal: main screen, cooked mode, echo, no mouse.
    tmux.key("Escape");
    tmux.wait_text("Press Esc or Ctrl-C again to quit");
    tmux.key("Escape");
    let screen = tmux.wait_text("END");
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(line_with(&screen, "TTY ").contains("TTY icanon echo"), "{screen}");
    let flags = tmux.run(&["display-message", "-p", "-t", "main", "#{alternate_on} #{mouse_any_flag}"]);
    assert_eq!(flags.trim(), "0 0");
    assert!(bob.finish().0.success());
    assert!(cyd.finish().0.success());
}

#[test]
fn lines_typed_while_the_server_is_down_reach_the_joined_room_and_left_rooms_stay_left() {
    let server = Server::start();
    let url = server.url.clone();
    let home = Home::new();
    signup(&home, &url, "rex");
    let tmux = Tmux::new();
    start_client(&tmux, &home, &url, "lobby");
    tmux.wait_text(&format!("● #lobby · rex · connected · {url}"));
    tmux.type_text("/join dev");
    tmux.key("Enter");
    tmux.wait_text("You joined #dev");
    // Leave the room of the handshake: a new connection must not quietly put us back.
    tmux.type_text("/leave lobby");
    tmux.key("Enter");
    tmux.wait_text("You left #lobby");

    let (addr, data) = server.stop();
    tmux.wait_text("reconnecting");
    tmux.type_text("typed while the server was down");
    tmux.key("Enter");
    let _server = Server::start_at(addr, data);
    let obs_home = Home::new();
    signup(&obs_home, &url, "obs");
    let mut obs = Plain::spawn(&obs_home, &url, "obs", PASSWORD, &["--room", "dev"]).connected();
    // Delivered to #dev once the client is back (its replay reaches a late joiner too).
    obs.expect_line("[dev] rex: typed while the server was down");
    let screen = tmux.wait_for("the queued line confirmed", |s| {
        let line = line_with(s, "rex │ typed while the server was down");
        !line.is_empty() && !line.contains("(sending)") && !line.contains("unconfirmed")
    });
    assert!(!screen.contains("not in room"), "{screen}");
    assert!(!screen.contains("lobby("), "the left room did not come back: {screen}");
    assert!(!line_with(&screen, "1:").contains("lobby"), "{screen}");
    // The room of the handshake was left again on the new connection: its traffic stays out.
    let lobby_home = Home::new();
    signup(&lobby_home, &url, "lob");
    let mut lob = Plain::spawn(&lobby_home, &url, "lob", PASSWORD, &["--room", "lobby"]).connected();
    lob.send("anyone in lobby?");
    lob.expect_line("[lobby] lob: anyone in lobby?");
    obs.send("still in dev");
    let screen = tmux.wait_text("obs │ still in dev");
    assert!(!screen.contains("anyone in lobby?"), "{screen}");
    assert!(lob.finish().0.success() && obs.finish().0.success());
}

#[test]
fn one_row_terminals_and_pasted_control_characters_do_not_crash_it() {
    let server = Server::start();
    let url = server.url.clone();
    let home = Home::new();
    signup(&home, &url, "vic");
    let tmux = Tmux::new();
    start_client(&tmux, &home, &url, "lobby");
    tmux.wait_text(&format!("● #lobby · vic · connected · {url}"));
    // Down to one row and back: only the input line fits, then everything again.
    tmux.run(&["resize-window", "-t", "main", "-y", "1"]);
    tmux.wait_for("the input line alone", |s| s.trim_end().starts_with('›'));
    tmux.run(&["resize-window", "-t", "main", "-y", "30"]);
    tmux.wait_text("● #lobby · vic · connected");
    // A bracketed paste of escape sequences, a bell and a C1 control, over two lines.
    tmux.run(&["set-buffer", "-b", "evil", "x\u{1b}[31mred\u{7}\u{9b}2J\nsecond line"]);
    tmux.run(&["paste-buffer", "-p", "-b", "evil", "-t", "main"]);
    tmux.key("Enter");
    let screen = tmux.wait_text("second line");
    assert!(screen.contains("vic │ x"), "sent as one message: {screen}");
    assert!(screen.contains("[31mred"), "the escape drawn inert: {screen}");
    // A web address, drawn as an OSC 8 hyperlink: on screen as plain text, nothing shifted.
    tmux.type_text("read https://example.org/docs/page?x=1 now");
    tmux.key("Enter");
    let screen = tmux.wait_text("vic │ read https://example.org/docs/page?x=1 now");
    assert!(!screen.contains("]8;"), "no escape code shows: {screen}");
    tmux.key("Escape");
    tmux.key("Escape");
    tmux.wait_text("END");
}

#[test]
fn actions_direct_messages_members_and_join_part_lines_in_the_full_screen() {
    let server = Server::start();
    let url = server.url.clone();
    let home = Home::new();
    signup(&home, &url, "tess");
    let tmux = Tmux::new();
    start_client(&tmux, &home, &url, "lobby");
    tmux.wait_text(&format!("● #lobby · tess · connected · {url}"));
    let bob_home = Home::new();
    signup(&bob_home, &url, "bob");
    let mut bob = Plain::spawn(&bob_home, &url, "bob", PASSWORD, &["--room", "lobby"]).connected();
    tmux.wait_text("--> bob joined #lobby");

    // /me: an action here, plain text to a client that knows only the classic protocol.
    tmux.type_text("/me waves");
    tmux.key("Enter");
    tmux.wait_text("tess waves");
    bob.expect_line("[lobby] tess: waves");

    // /msg: a query window of its own; the other person gets it, no one else.
    tmux.type_text("/msg bob psst");
    tmux.key("Enter");
    tmux.wait_for("the query window with the message confirmed", |s| {
        let line = line_with(s, "tess │ psst");
        s.contains(":@bob") && !line.is_empty() && !line.contains("(sending)")
    });
    bob.expect_line("[@tess] tess: psst");

    // F2: who is in the room, from the server.
    tmux.key("M-1");
    tmux.key("F2");
    tmux.wait_for("the member list", |s| {
        s.contains(" members") && s.contains("│ bob") && s.contains("│ tess")
    });

    // Bob goes: a part line, and the list follows.
    assert!(bob.finish().0.success());
    tmux.wait_for("bob's part line and the list without him", |s| {
        s.contains("<-- bob left #lobby") && !s.contains("│ bob")
    });
}
