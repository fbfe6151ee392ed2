//! End to end in `--plain` mode: the real server in-process, real `chat-tui` processes in
//! shared and separate rooms, each seeing exactly what it should.

use crate::support;

use std::os::unix::fs::PermissionsExt;

use shared::payload::ChatMessage;
use support::{Home, PASSWORD, Plain, Server, signup};

#[test]
fn clients_in_shared_and_separate_rooms_see_exactly_their_rooms() {
    let server = Server::start();
    let url = server.url.as_str();
    let homes: Vec<Home> = (0..4).map(|_| Home::new()).collect();
    for (home, user) in homes.iter().zip(["ann", "bob", "cyd", "dee"]) {
        signup(home, url, user);
        let mode = std::fs::metadata(home.token_file()).expect("token file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{user}'s token file");
    }
    let mut ann = Plain::spawn(&homes[0], url, "ann", PASSWORD, &["--room", "alpha"]).connected();
    let mut bob = Plain::spawn(&homes[1], url, "bob", PASSWORD, &["--room", "alpha"]).connected();
    let mut cyd = Plain::spawn(&homes[2], url, "cyd", PASSWORD, &["--room", "beta"]).connected();

    ann.send("hello from ann");
    assert_eq!(ann.expect_line("[alpha] ann: hello from ann"), Vec::<String>::new(), "own echo");
    assert!(bob.expect_line("[alpha] ann: hello from ann").is_empty());
    bob.send("hi ann, 你好 👋");
    assert!(ann.expect_line("[alpha] bob: hi ann, 你好 👋").is_empty());
    cyd.send("only beta");
    assert!(cyd.expect_line("[beta] cyd: only beta").is_empty());

    // A late joiner gets the room's history, replayed oldest first, as JSON.
    let mut dee = Plain::spawn(&homes[3], url, "dee", PASSWORD, &["--room", "alpha", "--json"]).connected();
    let replayed: Vec<ChatMessage> =
        (0..2).map(|_| serde_json::from_str(&dee.next_line()).expect("one JSON object per line")).collect();
    assert_eq!(
        replayed.iter().map(|m| (m.username.as_str(), m.message.as_str(), m.replayed)).collect::<Vec<_>>(),
        [("ann", "hello from ann", true), ("bob", "hi ann, 你好 👋", true)]
    );
    assert!(replayed.iter().all(|m| m.room == "alpha" && !m.id.is_empty()));
    assert!(chrono::DateTime::parse_from_rfc3339(&replayed[0].sent).is_ok());
    dee.send("dee was here");
    let live: ChatMessage = serde_json::from_str(&dee.next_line()).expect("json");
    assert_eq!(
        (live.username.as_str(), live.message.as_str(), live.replayed),
        ("dee", "dee was here", false)
    );
    ann.expect_line("[alpha] dee: dee was here");
    bob.expect_line("[alpha] dee: dee was here");

    // Ending stdin ends each client cleanly once its messages are stored; nobody saw more.
    let (status, ann_seen) = ann.finish();
    assert!(status.success());
    assert_eq!(
        ann_seen,
        ["[alpha] ann: hello from ann", "[alpha] bob: hi ann, 你好 👋", "[alpha] dee: dee was here"]
    );
    let (status, bob_seen) = bob.finish();
    assert!(status.success());
    assert_eq!(bob_seen, ann_seen);
    let (status, cyd_seen) = cyd.finish();
    assert!(status.success());
    assert_eq!(cyd_seen, ["[beta] cyd: only beta"]);
    let (status, dee_seen) = dee.finish();
    assert!(status.success());
    assert_eq!(dee_seen.len(), 3);
}

#[test]
fn refused_logins_and_tokens_exit_non_zero_with_the_servers_words() {
    let server = Server::start();
    let url = server.url.as_str();
    let home = Home::new();
    signup(&home, url, "erin");

    // Wrong password: the server's {error} text, nothing else, and status 2 (refused).
    let fresh = Home::new();
    let (status, err) = Plain::spawn(&fresh, url, "erin", "wrong password!", &[]).exit();
    assert_eq!(status.code(), Some(2));
    assert_eq!(err, [shared::errors::INVALID_CREDENTIALS]);
    assert!(!fresh.token_file().exists());

    // A stored token the server refuses, and no password to log in again: status 2.
    let bad = Home::new();
    std::fs::create_dir_all(bad.token_file().parent().expect("dir")).expect("mkdir");
    let file = serde_json::json!({"servers": {url: {"username": "erin", "token": "not.a.jwt"}}});
    std::fs::write(bad.token_file(), file.to_string()).expect("write token file");
    let mut cmd = bad.command(&["--server", url, "--plain"]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("spawn");
    let out = wait_output(child);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("rejected: {}", shared::errors::AUTH_INVALID_TOKEN)), "{stderr}");

    // With CHAT_PASSWORD the refused token is replaced by a fresh login and the message goes out.
    let mut erin = Plain::spawn(&bad, url, "erin", PASSWORD, &["--room", "gamma"]).connected();
    erin.send("back again");
    erin.expect_line("[gamma] erin: back again");
    let (status, _) = erin.finish();
    assert!(status.success());
    let stored = std::fs::read_to_string(bad.token_file()).expect("token file");
    assert!(!stored.contains("not.a.jwt"));

    // --logout forgets the token.
    let out = home.command(&["--server", url, "--logout"]).output().expect("logout");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("Logged out of {url}."));
    assert!(!std::fs::read_to_string(home.token_file()).expect("token file").contains(url));
}

#[test]
fn server_errors_reach_stderr_and_fail_the_run() {
    let server = Server::start();
    let url = server.url.as_str();
    let home = Home::new();
    signup(&home, url, "finn");
    let mut finn = Plain::spawn(&home, url, "finn", PASSWORD, &[]).connected();
    let too_long = "x".repeat(shared::defaults::MAX_MESSAGE_BYTES + 1);
    finn.send(&too_long);
    finn.expect_stderr(&shared::errors::message_too_long(shared::defaults::MAX_MESSAGE_BYTES));
    finn.send("fine");
    finn.expect_line("[public] finn: fine");
    let (status, _) = finn.finish();
    assert_eq!(status.code(), Some(1), "a refused message makes the run fail");
}

#[test]
fn a_dropped_connection_is_retried_with_backoff_and_resumes_without_repeats() {
    let server = Server::start();
    let url = server.url.clone();
    let home = Home::new();
    signup(&home, &url, "gus");
    let mut gus = Plain::spawn(&home, &url, "gus", PASSWORD, &["--room", "omega"]).connected();
    gus.send("before");
    gus.expect_line("[omega] gus: before");

    let (addr, data) = server.stop();
    let note = gus.expect_stderr("reconnecting (attempt 2, next try in ");
    assert!(note.contains(" s): "), "the reason follows: {note}");
    let _server = Server::start_at(addr, data);
    gus.expect_stderr("connected to ");
    gus.send("after");
    // The history replayed on reconnect is not printed a second time.
    assert_eq!(gus.expect_line("[omega] gus: after"), Vec::<String>::new());
    let (status, seen) = gus.finish();
    assert!(status.success());
    assert_eq!(seen, ["[omega] gus: before", "[omega] gus: after"]);
}

#[test]
fn stdin_at_its_end_still_prints_the_history() {
    let server = Server::start();
    let url = server.url.clone();
    let (hal_home, ida_home) = (Home::new(), Home::new());
    signup(&hal_home, &url, "hal");
    signup(&ida_home, &url, "ida");
    let mut hal = Plain::spawn(&hal_home, &url, "hal", PASSWORD, &["--room", "records"]).connected();
    hal.send("for the record");
    hal.expect_line("[records] hal: for the record");
    let child = ida_home
        .command(&["--server", &url, "--room", "records", "--plain"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let out = wait_output(child);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().collect::<Vec<_>>(),
        ["[records] hal: for the record"]
    );
    assert!(hal.finish().0.success());
}

#[test]
fn piped_lines_beyond_the_rate_limit_are_paced_not_lost_and_refusals_print_once() {
    // The server's default limit: 10 messages a second after a burst of 30.
    let server = Server::start_limited();
    let url = server.url.clone();
    let home = Home::new();
    signup(&home, &url, "pam");
    let lines: Vec<String> = (0..45).map(|i| format!("line {i}")).collect();
    let out =
        run_with_input(&home, &["--server", &url, "--room", "paced", "--plain"], &(lines.join("\n") + "\n"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains(shared::errors::RATE_LIMITED), "{stderr}");
    let printed: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
    let expected: Vec<String> = lines.iter().map(|l| format!("[paced] pam: {l}")).collect();
    assert_eq!(printed, expected, "every line, once, in order");

    // A refusal the client cannot fix is printed once, not as an error event and again as a
    // failed ack.
    let long = "x".repeat(shared::defaults::MAX_MESSAGE_BYTES + 1);
    let out = run_with_input(&home, &["--server", &url, "--room", "paced", "--plain"], &format!("{long}\n"));
    assert_eq!(out.status.code(), Some(1));
    let too_long = shared::errors::message_too_long(shared::defaults::MAX_MESSAGE_BYTES);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches(&too_long).count(), 1, "{stderr}");
}

/// Runs chat-tui with `args`, `input` on its stdin (then closed): its output once it exits.
fn run_with_input(home: &Home, args: &[&str], input: &str) -> std::process::Output {
    let mut child = home
        .command(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut stdin, input.as_bytes()).expect("write");
    drop(stdin);
    wait_output(child)
}

/// `wait_with_output` with a timeout: the child's stdin is closed first.
fn wait_output(mut child: std::process::Child) -> std::process::Output {
    drop(child.stdin.take());
    let deadline = std::time::Instant::now() + support::WAIT;
    while child.try_wait().expect("wait").is_none() {
        assert!(std::time::Instant::now() < deadline, "chat-tui did not exit");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}
