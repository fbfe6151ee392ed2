//! The users a run connects as: signed up and logged in over the seeds' HTTP API (concurrently,
//! bounded), or read from a token cache kept per server so that repeated runs skip the password
//! hashing that would otherwise dominate their start.

use std::{
    collections::BTreeMap,
    path::Path,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use futures_util::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use shared::api::{self, Credentials, LoginResponse};

/// The password of every bench user.
pub const PASSWORD: &str = "chat-bench password";
/// Tokens are reused for at most this long (the servers issue them for 24 h).
const TOKEN_REUSE: Duration = Duration::from_secs(20 * 3600);

/// Why users could not be had.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{path} answered {status}: {body}")]
    Refused { path: &'static str, status: u16, body: String },
    #[error("token cache {path}: {source}")]
    Cache { path: String, source: std::io::Error },
}

/// Tokens per server base URL, then per username, with the time they were issued.
#[derive(Default, Serialize, Deserialize)]
pub struct TokenCache(BTreeMap<String, BTreeMap<String, (String, u64)>>);

impl TokenCache {
    /// The cache in `path`; empty when the file does not exist or cannot be read as one.
    pub fn load(path: &Path) -> Self {
        std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    /// Writes the cache to `path` (owner-only: the tokens are credentials).
    pub fn save(&self, path: &Path) -> Result<(), AuthError> {
        use std::os::unix::fs::OpenOptionsExt;
        let error = |source| AuthError::Cache { path: path.display().to_string(), source };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(error)?;
        std::io::Write::write_all(&mut file, &serde_json::to_vec(self).unwrap_or_default()).map_err(error)
    }

    /// Forgets `base`'s tokens (its secret or its users changed: a restart on a fresh store).
    pub fn forget(&mut self, base: &str) {
        self.0.remove(base.trim_end_matches('/'));
    }

    fn get(&self, base: &str, username: &str) -> Option<String> {
        let (token, issued) = self.0.get(base)?.get(username)?;
        (now_secs().saturating_sub(*issued) < TOKEN_REUSE.as_secs()).then(|| token.clone())
    }

    fn put(&mut self, base: &str, username: &str, token: &str) {
        self.0
            .entry(base.to_owned())
            .or_default()
            .insert(username.to_owned(), (token.to_owned(), now_secs()));
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// An HTTP client for one server.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: Arc<str>,
}

impl Api {
    pub fn new(base: &str) -> Result<Self, AuthError> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
        Ok(Self { http, base: base.trim_end_matches('/').into() })
    }

    async fn post(&self, path: &'static str, username: &str) -> Result<reqwest::Response, AuthError> {
        let body = Credentials { username: username.to_owned(), password: PASSWORD.to_owned() };
        Ok(self.http.post(format!("{}{path}", self.base)).json(&body).send().await?)
    }

    /// Signs `username` up; an existing account (409) is fine, it is logged in next.
    pub async fn signup(&self, username: &str) -> Result<(), AuthError> {
        let response = self.post(api::SIGNUP_PATH, username).await?;
        match response.status().as_u16() {
            200..=299 | 409 => Ok(()),
            status => {
                let body = response.text().await.unwrap_or_default();
                Err(AuthError::Refused { path: api::SIGNUP_PATH, status, body })
            }
        }
    }

    /// Logs `username` in; its token.
    pub async fn login(&self, username: &str) -> Result<String, AuthError> {
        let response = self.post(api::LOGIN_PATH, username).await?;
        let status = response.status().as_u16();
        if status != 200 {
            let body = response.text().await.unwrap_or_default();
            return Err(AuthError::Refused { path: api::LOGIN_PATH, status, body });
        }
        Ok(response.json::<LoginResponse>().await?.token)
    }
}

/// Tokens for `usernames` on `api`'s server: from `cache` where it has one, else by signup and
/// login, `concurrency` at a time. `done` is called once per user (for a progress bar). Returns
/// the tokens in the order of `usernames` and each fresh login's latency.
pub async fn tokens(
    api: &Api,
    usernames: &[String],
    cache: &mut TokenCache,
    concurrency: usize,
    done: impl Fn() + Sync,
) -> Result<(Vec<String>, Vec<Duration>), AuthError> {
    let base = api.base.to_string();
    let mut tokens: Vec<Option<String>> = usernames.iter().map(|u| cache.get(&base, u)).collect();
    let missing: Vec<usize> = (0..usernames.len()).filter(|&i| tokens[i].is_none()).collect();
    (0..usernames.len() - missing.len()).for_each(|_| done());
    let done = &done;
    let fresh: Vec<Result<(usize, String, Duration), AuthError>> = stream::iter(missing)
        .map(|i| async move {
            api.signup(&usernames[i]).await?;
            let started = Instant::now();
            let token = api.login(&usernames[i]).await?;
            done();
            Ok((i, token, started.elapsed()))
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut logins = Vec::new();
    for result in fresh {
        let (i, token, took) = result?;
        cache.put(&base, &usernames[i], &token);
        tokens[i] = Some(token);
        logins.push(took);
    }
    Ok((tokens.into_iter().map(Option::unwrap_or_default).collect(), logins))
}
