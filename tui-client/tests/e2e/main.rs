//! chat-tui end to end, in one test binary (each links the server and the client): `plain`
//! drives `--plain` processes, `tmux` the full-screen interface on a real terminal.

mod support;

mod plain;
mod tmux;
