//! Logging in over HTTP and keeping the token: one entry per server URL in
//! `$XDG_CONFIG_HOME/chat-tui/tokens.json`, mode 0600, written atomically. The token is never
//! printed or logged ([`Token`]'s `Debug` hides it).

use std::{
    collections::BTreeMap,
    fmt,
    io::{self, BufRead, IsTerminal, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::{Path, PathBuf},
    time::Duration,
};

use reqwest::{StatusCode, header::RETRY_AFTER};
use serde::{Deserialize, Serialize};
use shared::api::{self, Credentials, ErrorResponse, LoginResponse};
use thiserror::Error;

/// Environment variable that may carry the password (for scripts; never a flag, which would
/// show in `ps`).
pub const PASSWORD_ENV: &str = "CHAT_PASSWORD";
/// Longest wait for one HTTP call.
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);
/// Interactive login attempts before giving up.
const LOGIN_TRIES: usize = 3;

/// A login token (JWT). Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Token(String);

impl Token {
    pub fn new(token: impl Into<String>) -> Self {
        Token(token.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(…)")
    }
}

/// A stored login: the token and whose it is (to tell our own messages apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub username: String,
    pub token: Token,
}

#[derive(Debug, Error)]
pub enum AuthError {
    /// The server's own `{error}` text.
    #[error("{message}{}", retry_after.map(|s| format!(" (retry in {s} s)")).unwrap_or_default())]
    Server { message: String, retry_after: Option<u64> },
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("unexpected answer from {url} (HTTP {status})")]
    Unexpected { url: String, status: u16 },
    #[error("token file {}: {source}", path.display())]
    Store { path: PathBuf, source: io::Error },
    #[error("{0}")]
    NeedCredentials(String),
    #[error("reading the {what}: {source}")]
    Prompt { what: &'static str, source: io::Error },
}

/// The token file.
#[derive(Debug, Clone)]
pub struct TokenStore {
    path: PathBuf,
}

#[derive(Default, Serialize, Deserialize)]
struct TokenFile {
    servers: BTreeMap<String, Session>,
}

/// Servers are the same whatever trailing slashes were typed.
fn server_key(server: &str) -> String {
    server.trim_end_matches('/').to_owned()
}

impl TokenStore {
    /// `tokens.json` in the user's config dir (`$XDG_CONFIG_HOME/chat-tui` on Linux).
    pub fn default_location() -> Option<Self> {
        let dirs = directories::ProjectDirs::from("", "", "chat-tui")?;
        Some(Self::at(dirs.config_dir().join("tokens.json")))
    }

    pub fn at(path: impl Into<PathBuf>) -> Self {
        TokenStore { path: path.into() }
    }

    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: io::Error) -> AuthError {
        AuthError::Store { path: self.path.clone(), source }
    }

    fn read(&self) -> Result<TokenFile, AuthError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| self.err(e.into())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(TokenFile::default()),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Writes a fresh file (0600 from the start) next to the old one, then renames it over.
    fn write(&self, file: &TokenFile) -> Result<(), AuthError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| self.err(e))?;
        let tmp = self.path.with_extension(format!("tmp{}", std::process::id()));
        let body = serde_json::to_vec_pretty(file).map_err(|e| self.err(e.into()))?;
        let result = (|| {
            let mut f =
                std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(|e| self.err(e))
    }

    pub fn get(&self, server: &str) -> Result<Option<Session>, AuthError> {
        Ok(self.read()?.servers.remove(&server_key(server)))
    }

    pub fn set(&self, server: &str, session: &Session) -> Result<(), AuthError> {
        let mut file = self.read()?;
        file.servers.insert(server_key(server), session.clone());
        self.write(&file)
    }

    /// Forgets the server's token; `false` if there was none.
    pub fn remove(&self, server: &str) -> Result<bool, AuthError> {
        let mut file = self.read()?;
        let had = file.servers.remove(&server_key(server)).is_some();
        if had {
            self.write(&file)?;
        }
        Ok(had)
    }
}

/// The HTTP half of the API.
pub struct AuthClient {
    http: reqwest::Client,
    base: String,
}

impl AuthClient {
    pub fn new(server: &str) -> Result<Self, AuthError> {
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| AuthError::Unreachable { url: server.to_owned(), reason: e.to_string() })?;
        Ok(AuthClient { http, base: server_key(server) })
    }

    pub async fn login(&self, creds: &Credentials) -> Result<Token, AuthError> {
        let (url, response) = self.post(api::LOGIN_PATH, creds).await?;
        let status = response.status().as_u16();
        let answer: LoginResponse =
            response.json().await.map_err(|_| AuthError::Unexpected { url, status })?;
        Ok(Token::new(answer.token))
    }

    /// Whether anything answers HTTP at the server (any status will do), so a login form can
    /// say so before the password is typed.
    pub async fn check(&self) -> Result<(), AuthError> {
        self.http
            .get(format!("{}{}", self.base, api::HEALTH_PATH))
            .send()
            .await
            .map(drop)
            .map_err(|e| AuthError::Unreachable { url: self.base.clone(), reason: root_cause(&e) })
    }

    /// Logs in, signing up first when `signup`: the session to store.
    pub async fn session(&self, creds: &Credentials, signup: bool) -> Result<Session, AuthError> {
        if signup {
            self.signup(creds).await?;
        }
        let token = self.login(creds).await?;
        Ok(Session { username: creds.username.clone(), token })
    }

    /// Any success will do: the protocol says 201 and nothing of the body (ours answers
    /// `{id, username}`, the book's Node backend `{username}`).
    pub async fn signup(&self, creds: &Credentials) -> Result<(), AuthError> {
        self.post(api::SIGNUP_PATH, creds).await.map(drop)
    }

    /// POSTs `creds`; a success as it came (with the URL), or the server's `{error}`.
    async fn post(&self, path: &str, creds: &Credentials) -> Result<(String, reqwest::Response), AuthError> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .post(&url)
            .json(creds)
            .send()
            .await
            .map_err(|e| AuthError::Unreachable { url: self.base.clone(), reason: root_cause(&e) })?;
        let status = response.status();
        let unexpected = || AuthError::Unexpected { url: url.clone(), status: status.as_u16() };
        if status.is_success() {
            return Ok((url, response));
        }
        let retry_after = (status == StatusCode::TOO_MANY_REQUESTS)
            .then(|| response.headers().get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok())
            .flatten();
        match response.json::<ErrorResponse>().await {
            Ok(body) => Err(AuthError::Server { message: body.error, retry_after }),
            Err(_) => Err(unexpected()),
        }
    }
}

/// The innermost cause of an error: "Connection refused (os error 111)", not a chain of
/// wrappers.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// How to log in when there is no usable token.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    pub server: String,
    /// `--user`.
    pub username: Option<String>,
    /// `--signup`: create the account first.
    pub signup: bool,
}

/// Asks for whatever is missing (username on stdin when it is a terminal, password from
/// `CHAT_PASSWORD` or without echo on the terminal), logs in (signing up first when asked),
/// stores the token and returns the new session. Interactive failures ask again.
pub async fn login(opts: &LoginOptions, store: &TokenStore) -> Result<Session, AuthError> {
    let client = AuthClient::new(&opts.server)?;
    let interactive = io::stdin().is_terminal();
    let tries = if interactive && std::env::var_os(PASSWORD_ENV).is_none() { LOGIN_TRIES } else { 1 };
    let mut last_err = None;
    for _ in 0..tries {
        let o = opts.clone();
        let (creds, signup) =
            tokio::task::spawn_blocking(move || ask_credentials(&o, interactive))
                .await
                .map_err(|e| AuthError::Prompt { what: "credentials", source: io::Error::other(e) })??;
        match client.session(&creds, signup).await {
            Ok(session) => {
                if signup {
                    eprintln!("Account {} created.", creds.username);
                }
                store.set(&opts.server, &session)?;
                return Ok(session);
            }
            Err(e @ (AuthError::Server { .. } | AuthError::Unexpected { .. })) if tries > 1 => {
                eprintln!("{e}");
                last_err = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| AuthError::NeedCredentials("login failed".into())))
}

fn ask_credentials(opts: &LoginOptions, interactive: bool) -> Result<(Credentials, bool), AuthError> {
    let env_password = std::env::var(PASSWORD_ENV).ok();
    let prompt = |what: &'static str, text: &str| -> Result<String, AuthError> {
        eprint!("{text}");
        io::stderr().flush().map_err(|source| AuthError::Prompt { what, source })?;
        let mut line = String::new();
        io::stdin().lock().read_line(&mut line).map_err(|source| AuthError::Prompt { what, source })?;
        Ok(line.trim().to_owned())
    };
    let mut signup = opts.signup;
    let username = match &opts.username {
        Some(u) => u.clone(),
        None if interactive => {
            eprintln!("Log in to {}", opts.server);
            if !signup {
                let choice = prompt("choice", "Log in or sign up? [L/s] ")?;
                signup = choice.eq_ignore_ascii_case("s") || choice.eq_ignore_ascii_case("signup");
            }
            prompt("username", "Username: ")?
        }
        None => {
            return Err(AuthError::NeedCredentials(format!(
                "no stored login for {}: pass --user and set {PASSWORD_ENV}, or run once in a terminal",
                opts.server
            )));
        }
    };
    if signup && let Err(hint) = shared::validate::username(&username) {
        return Err(AuthError::NeedCredentials(hint));
    }
    let password = match env_password {
        Some(p) => p,
        None => {
            let read = |text: &str| {
                rpassword::prompt_password(text).map_err(|e| {
                    AuthError::NeedCredentials(format!("cannot ask for a password ({e}): set {PASSWORD_ENV}"))
                })
            };
            let password = read("Password: ")?;
            if signup {
                if let Err(hint) = shared::validate::password(&password) {
                    return Err(AuthError::NeedCredentials(hint));
                }
                if read("Repeat password: ")? != password {
                    return Err(AuthError::NeedCredentials("The passwords differ".into()));
                }
            }
            password
        }
    };
    Ok((Credentials { username, password }, signup))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn session(user: &str, token: &str) -> Session {
        Session { username: user.into(), token: Token::new(token) }
    }

    #[test]
    fn tokens_are_kept_per_server_with_mode_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = TokenStore::at(dir.path().join("chat-tui/tokens.json"));
        assert_eq!(store.get("http://a:1").expect("read"), None);
        store.set("http://a:1/", &session("ann", "t-a")).expect("write");
        store.set("http://b:2", &session("bob", "t-b")).expect("write");
        assert_eq!(store.get("http://a:1").expect("read"), Some(session("ann", "t-a")));
        assert_eq!(store.get("http://b:2/").expect("read"), Some(session("bob", "t-b")));
        let mode = std::fs::metadata(store.path()).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode =
            std::fs::metadata(store.path().parent().expect("dir")).expect("stat").permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        // Replacing one entry keeps the other and the mode.
        store.set("http://a:1", &session("ann", "t-a2")).expect("write");
        assert_eq!(store.get("http://b:2").expect("read"), Some(session("bob", "t-b")));
        assert!(store.remove("http://a:1").expect("remove"));
        assert!(!store.remove("http://a:1").expect("remove"));
        assert_eq!(store.get("http://a:1").expect("read"), None);
        assert_eq!(std::fs::metadata(store.path()).expect("stat").permissions().mode() & 0o777, 0o600);
        let leftovers = std::fs::read_dir(store.path().parent().expect("dir")).expect("ls").count();
        assert_eq!(leftovers, 1, "no temporary files are left behind");
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens.json");
        std::fs::write(&path, "not json").expect("write");
        let err = TokenStore::at(&path).get("http://a").unwrap_err();
        assert!(err.to_string().contains("tokens.json"), "{err}");
    }

    #[test]
    fn tokens_never_show_in_debug_output() {
        let s = session("ann", "secret.jwt.value");
        assert!(!format!("{s:?}").contains("secret"));
    }

    #[test]
    fn server_errors_read_as_the_servers_text() {
        let e =
            AuthError::Server { message: shared::errors::TOO_MANY_ATTEMPTS.into(), retry_after: Some(30) };
        assert_eq!(e.to_string(), "Too many failed login attempts, try again later (retry in 30 s)");
        let e = AuthError::Server { message: shared::errors::INVALID_CREDENTIALS.into(), retry_after: None };
        assert_eq!(e.to_string(), "Invalid username or password");
    }

    #[tokio::test]
    async fn unreachable_server_is_one_short_line() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        drop(listener);
        let creds = Credentials { username: "ann".into(), password: "password".into() };
        let err = AuthClient::new(&url).expect("client").login(&creds).await.unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with(&format!("cannot reach {url}: ")), "{text}");
        assert!(!text.contains('\n'));
    }
}
