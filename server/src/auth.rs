//! Passwords, login tokens and the failed-login throttle.
//!
//! Passwords are hashed with argon2id; bcrypt hashes written by the Node backend still
//! verify, so its users can log in after a move. Tokens are HS256 JWTs whose `sub` is the
//! user id, the same shape the Node backend signs: the algorithm is pinned, `exp` required,
//! and every registered time claim checked with [`CLOCK_LEEWAY`] (`exp` past, `nbf` ahead,
//! `iat` in the future: each refuses the token).

use std::{
    collections::HashMap,
    fs,
    io::{self, Write},
    net::IpAddr,
    path::Path,
    sync::Mutex,
    time::{Duration, Instant},
};

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{
        SaltString,
        rand_core::{OsRng, RngCore},
    },
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// How long a login token is valid.
pub const TOKEN_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Name of the generated secret inside the data dir.
const SECRET_FILE: &str = "jwt-secret";
/// Below this a secret is guessable offline from one token.
const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("could not hash password: {0}")]
    Hash(String),
    #[error("could not sign token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
    #[error("could not read or create the JWT secret in {path}")]
    Secret { path: String, source: io::Error },
    #[error(
        "the JWT secret {path} is readable by others (mode {mode:o}): anyone who can read it can sign \
         tokens for any user. Make it private (chmod 600 {path}) and restart"
    )]
    SecretExposed { path: String, mode: u32 },
}

/// Hashes a new password with argon2id (the crate's defaults follow OWASP's minimum).
/// CPU-bound for tens of milliseconds: call it from `spawn_blocking`.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Checks a password against an argon2 PHC string or a bcrypt hash (`$2a$`, `$2b$`, `$2y$`).
/// An unreadable hash never verifies. CPU-bound: call it from `spawn_blocking`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    if hash.starts_with("$2") {
        return bcrypt::verify(password, hash).unwrap_or(false);
    }
    PasswordHash::new(hash)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// Runs password hashing (CPU-bound, ~19 MiB of argon2 memory each) at most one per core at a
/// time, on tokio's blocking threads; the rest wait in line, at most the `wait` given to
/// [`Hashing::new`].
/// Unbounded, a flood of 50 concurrent signups ran 50 hashes at once on 50 threads, and RSS
/// reached 10 GB (see also `main.rs`, `M_MMAP_THRESHOLD`).
pub struct Hashing {
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    wait: Duration,
}

/// No hashing slot came free within [`Hashing`]'s wait: the server is overloaded.
#[derive(Debug, thiserror::Error)]
#[error("password hashing is busy: no slot within {0:?}")]
pub struct HashingBusy(pub Duration);

impl Hashing {
    /// `concurrency` hashes at once (the cores), each request waiting at most `wait` for a slot.
    pub fn new(concurrency: usize, wait: Duration) -> Self {
        Self { permits: std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))), wait }
    }

    /// Runs `f` (a hash or a verification) once a slot is free.
    ///
    /// # Errors
    /// [`HashingBusy`] when no slot came free in time, or `f` panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashingBusy> {
        let busy = || HashingBusy(self.wait);
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        tokio::task::spawn_blocking(move || {
            let _slot = permit;
            f()
        })
        .await
        .map_err(|_| busy())
    }
}

/// A hash of a random password, checked against when the username is unknown so that a
/// failed login takes as long whether or not the user exists.
pub fn dummy_hash() -> Result<String, AuthError> {
    hash_password(&random_hex(16))
}

/// `len` random bytes from the OS, as lowercase hex.
pub(crate) fn random_hex(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Clock difference tolerated on every time claim, in seconds (nodes' and the Node backend's
/// clocks are NTP-synced, not equal).
pub const CLOCK_LEEWAY: u64 = 30;

/// JWT claims: the Node backend signs `{sub, iat, exp}` too; `nbf` is honoured when present.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    /// Seconds since the epoch (RFC 7519 NumericDate), like `exp` and `nbf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
}

/// Signs and checks login tokens with one secret.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Tokens {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = CLOCK_LEEWAY;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// A token for `user_id`, valid for [`TOKEN_TTL`].
    pub fn issue(&self, user_id: &str) -> Result<String, AuthError> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims =
            Claims { sub: user_id.to_string(), iat: Some(now), exp: now + TOKEN_TTL.as_secs(), nbf: None };
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    /// The user id of a valid token; `None` for anything forged, expired, malformed, longer than
    /// [`shared::defaults::MAX_TOKEN_BYTES`] or signed with another algorithm (the caller
    /// reports all of these the same way).
    pub fn verify(&self, token: &str) -> Option<String> {
        if token.len() > shared::defaults::MAX_TOKEN_BYTES {
            return None;
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?.claims;
        // jsonwebtoken checks `exp` and `nbf`; a token issued in the future is forged or from a
        // clock that cannot be trusted either.
        let now = jsonwebtoken::get_current_timestamp();
        if claims.iat.is_some_and(|iat| iat > now + CLOCK_LEEWAY) {
            return None;
        }
        Some(claims.sub)
    }
}

/// The secret from `JWT_SECRET`, or else the one kept in `data_dir` (created on first start
/// with 256 random bits, mode 0600), so tokens survive a restart.
pub fn load_or_create_secret(configured: Option<&str>, data_dir: &Path) -> Result<Vec<u8>, AuthError> {
    if let Some(secret) = configured.filter(|s| !s.is_empty()) {
        if secret.len() < MIN_SECRET_BYTES {
            tracing::warn!(
                "JWT_SECRET is {} bytes long; use at least {MIN_SECRET_BYTES} random bytes",
                secret.len()
            );
        }
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join(SECRET_FILE);
    let secret_err = |source| AuthError::Secret { path: path.display().to_string(), source };
    refuse_if_exposed(&path)?;
    match fs::read_to_string(&path) {
        Ok(existing) if existing.trim().len() >= MIN_SECRET_BYTES => {
            return Ok(existing.trim().as_bytes().to_vec());
        }
        Ok(_) => tracing::warn!("{} is too short; generating a new secret", path.display()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(secret_err(e)),
    }
    let secret = random_hex(32);
    write_private(&path, secret.as_bytes()).map_err(secret_err)?;
    tracing::info!("generated a new JWT secret in {}", path.display());
    Ok(secret.into_bytes())
}

/// Refuses a secret file that its group or others may read or write.
fn refuse_if_exposed(path: &Path) -> Result<(), AuthError> {
    use std::os::unix::fs::PermissionsExt;
    match fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => Err(AuthError::SecretExposed {
            path: path.display().to_string(),
            mode: meta.permissions().mode() & 0o777,
        }),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(AuthError::Secret { path: path.display().to_string(), source }),
    }
}

/// Writes a file only its owner can read, replacing any old one atomically.
fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

/// Counts login attempts that did not succeed per key (a username, a client address) in a
/// fixed window and refuses further attempts once `max` is reached, until the window ends.
pub struct FailureThrottle {
    max: u32,
    window: Duration,
    /// Upper bound on tracked keys, so a flood of distinct names cannot grow memory.
    capacity: usize,
    entries: Mutex<HashMap<String, (u32, Instant)>>,
}

impl FailureThrottle {
    pub fn new(max: u32, window: Duration, capacity: usize) -> Self {
        Self { max, window, capacity, entries: Mutex::new(HashMap::new()) }
    }

    /// Counts one attempt for `key` as a failure now, before it is known to fail, so that
    /// concurrent attempts cannot all pass; [`Self::release`] takes it back on success.
    ///
    /// # Errors
    /// `Err(retry_after)` while `key` is locked out (nothing is counted then).
    pub fn reserve(&self, key: &str) -> Result<(), Duration> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&(count, start)) = entries.get(key) {
            let elapsed = start.elapsed();
            if count >= self.max && elapsed < self.window {
                return Err(self.window - elapsed);
            }
        }
        self.count(&mut entries, key);
        Ok(())
    }

    /// Attempts counted for `key` in the current window.
    pub fn failures(&self, key: &str) -> u32 {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(key).filter(|(_, start)| start.elapsed() < self.window).map_or(0, |(count, _)| *count)
    }

    /// Takes back one attempt reserved with [`Self::reserve`].
    pub fn release(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = entries.get_mut(key) {
            entry.0 = entry.0.saturating_sub(1);
        }
    }

    fn count(&self, entries: &mut HashMap<String, (u32, Instant)>, key: &str) {
        let now = Instant::now();
        if entries.len() >= self.capacity && !entries.contains_key(key) {
            let window = self.window;
            entries.retain(|_, (_, start)| now.duration_since(*start) < window);
            if entries.len() >= self.capacity {
                // Still full of live entries: forget the oldest rather than grow.
                if let Some(oldest) = entries.iter().min_by_key(|(_, (_, s))| *s).map(|(k, _)| k.clone()) {
                    entries.remove(&oldest);
                }
            }
        }
        let entry = entries.entry(key.to_string()).or_insert((0, now));
        if now.duration_since(entry.1) >= self.window {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    pub fn reset(&self, key: &str) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

/// First wait once a username has had `max` failures from all addresses together, doubling
/// with each further failure up to [`MAX_SLOWDOWN`].
const SLOWDOWN_STEP: Duration = Duration::from_millis(250);
/// Longest wait a username's failures impose on its logins.
pub const MAX_SLOWDOWN: Duration = Duration::from_secs(5);

/// Failed logins, counted as OWASP's authentication guidance asks: against guessing, without
/// handing an attacker a way to lock someone out. Per client address (any username, ten times
/// `max`) and per (username, client address) (`max`), each refusing further attempts until its
/// window ends; and per username from every address, which only slows that name's logins down.
pub struct LoginThrottle {
    max: u32,
    by_addr: FailureThrottle,
    by_user_addr: FailureThrottle,
    by_user: FailureThrottle,
}

impl LoginThrottle {
    pub fn new(max: u32, window: Duration, capacity: usize) -> Self {
        Self {
            max,
            by_addr: FailureThrottle::new(max.saturating_mul(10), window, capacity),
            by_user_addr: FailureThrottle::new(max, window, capacity),
            by_user: FailureThrottle::new(u32::MAX, window, capacity),
        }
    }

    /// Reserves a login attempt of `username` (its canonical key) from `addr`, with how long to
    /// wait before checking the password.
    ///
    /// # Errors
    /// `Err(retry_after)` when the address, or the username from this address, is locked out.
    pub fn begin(&self, username: &str, addr: IpAddr) -> Result<(Attempt<'_>, Duration), Duration> {
        let excess = self.by_user.failures(username).checked_sub(self.max);
        let delay = excess.map_or(Duration::ZERO, |n| (SLOWDOWN_STEP * 2u32.pow(n.min(5))).min(MAX_SLOWDOWN));
        let attempt = Attempt::reserve([
            (&self.by_addr, addr.to_string()),
            (&self.by_user_addr, format!("{username}\u{0}{addr}")),
            (&self.by_user, username.to_owned()),
        ])?;
        Ok((attempt, delay))
    }

    /// The password was right: the username's earlier failures stop counting.
    pub fn succeeded(&self, username: &str, addr: IpAddr) {
        self.by_user.reset(username);
        self.by_user_addr.reset(&format!("{username}\u{0}{addr}"));
    }
}

/// One login attempt reserved on every throttle that applies. Dropping it takes the attempt
/// back (success, or a failure that was not the password's: the store, a panic); only
/// [`Attempt::failed`] lets it count.
pub struct Attempt<'a> {
    reserved: Vec<(&'a FailureThrottle, String)>,
}

impl<'a> Attempt<'a> {
    /// Reserves the attempt on each `(throttle, key)`.
    ///
    /// # Errors
    /// `Err(retry_after)` when a key is locked out; nothing stays reserved then.
    pub fn reserve(
        throttles: impl IntoIterator<Item = (&'a FailureThrottle, String)>,
    ) -> Result<Self, Duration> {
        let mut attempt = Attempt { reserved: Vec::new() };
        for (throttle, key) in throttles {
            throttle.reserve(&key)?;
            attempt.reserved.push((throttle, key));
        }
        Ok(attempt)
    }

    /// The password was wrong: the attempt counts.
    pub fn failed(mut self) {
        self.reserved.clear();
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        for (throttle, key) in self.reserved.drain(..) {
            throttle.release(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_hashes_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
    }

    #[test]
    fn node_bcrypt_hashes_verify() {
        let hash = bcrypt::hash("s3cret-pass", 4).unwrap();
        assert!(verify_password("s3cret-pass", &hash));
        assert!(!verify_password("other-pass", &hash));
        // bcryptjs writes $2a$; the same hash must verify.
        let two_a = hash.replacen("$2b$", "$2a$", 1);
        assert!(verify_password("s3cret-pass", &two_a));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let tokens = Tokens::new(&[7u8; 32]);
        let token = tokens.issue("65a1b2c3d4e5f60718293a4b").unwrap();
        assert_eq!(tokens.verify(&token).as_deref(), Some("65a1b2c3d4e5f60718293a4b"));
        assert_eq!(Tokens::new(&[8u8; 32]).verify(&token), None);
        assert_eq!(tokens.verify("not.a.token"), None);
    }

    #[test]
    fn expired_and_other_algorithm_tokens_are_refused() {
        let secret = [9u8; 32];
        let tokens = Tokens::new(&secret);
        let key = EncodingKey::from_secret(&secret);
        let expired = Claims { sub: "u".into(), iat: Some(1), exp: 2, nbf: None };
        let t = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &expired, &key).unwrap();
        assert_eq!(tokens.verify(&t), None);
        let now = jsonwebtoken::get_current_timestamp();
        let fresh = Claims { sub: "u".into(), iat: Some(now), exp: now + 60, nbf: None };
        let hs512 = jsonwebtoken::encode(&Header::new(Algorithm::HS512), &fresh, &key).unwrap();
        assert_eq!(tokens.verify(&hs512), None);
    }

    #[test]
    fn every_time_claim_is_checked_with_a_small_leeway() {
        let secret = [5u8; 32];
        let (tokens, key) = (Tokens::new(&secret), EncodingKey::from_secret(&secret));
        let sign =
            |claims: &Claims| jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).unwrap();
        let now = jsonwebtoken::get_current_timestamp();
        let exp = now + 3600;
        let hour = 3600;
        let cases = [
            (Claims { sub: "u".into(), iat: Some(now), exp, nbf: Some(now + hour) }, None),
            (Claims { sub: "u".into(), iat: Some(now + hour), exp, nbf: None }, None),
            (Claims { sub: "u".into(), iat: Some(now), exp: now - hour, nbf: None }, None),
            (Claims { sub: "u".into(), iat: Some(now + 10), exp, nbf: Some(now + 10) }, Some("u")),
            (Claims { sub: "u".into(), iat: None, exp, nbf: None }, Some("u")),
        ];
        for (claims, expected) in cases {
            assert_eq!(tokens.verify(&sign(&claims)).as_deref(), expected, "{claims:?}");
        }
    }

    #[test]
    fn generated_secret_is_private_and_stable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_secret(None, dir.path()).unwrap();
        assert_eq!(first.len(), 64);
        let mode = fs::metadata(dir.path().join(SECRET_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create_secret(None, dir.path()).unwrap(), first);
        assert_eq!(load_or_create_secret(Some("configured"), dir.path()).unwrap(), b"configured");
    }

    #[test]
    fn a_secret_file_others_can_read_is_refused_and_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_secret(None, dir.path()).unwrap();
        let path = dir.path().join(SECRET_FILE);
        for mode in [0o644, 0o640, 0o604, 0o620] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = load_or_create_secret(None, dir.path()).unwrap_err();
            assert!(matches!(err, AuthError::SecretExposed { .. }), "{mode:o}: {err}");
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
        assert_eq!(fs::read(&path).unwrap(), first, "never replaced");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(load_or_create_secret(None, dir.path()).unwrap(), first);
    }

    #[test]
    fn throttle_locks_out_after_max_attempts_and_resets() {
        let t = FailureThrottle::new(3, Duration::from_secs(60), 100);
        for _ in 0..3 {
            assert!(t.reserve("ann").is_ok());
        }
        let retry = t.reserve("ann").unwrap_err();
        assert!(retry <= Duration::from_secs(60) && retry > Duration::from_secs(50));
        assert!(t.reserve("bob").is_ok());
        t.reset("ann");
        assert!(t.reserve("ann").is_ok());
    }

    #[test]
    fn a_released_reservation_does_not_count() {
        let t = FailureThrottle::new(2, Duration::from_secs(60), 100);
        for _ in 0..10 {
            t.reserve("ann").unwrap();
            t.release("ann");
        }
        assert!(t.reserve("ann").is_ok() && t.reserve("ann").is_ok());
        assert!(t.reserve("ann").is_err(), "two unreleased attempts lock the key");
    }

    #[test]
    fn an_attempt_counts_only_when_it_failed() {
        let (user, addr) = (
            FailureThrottle::new(2, Duration::from_secs(60), 100),
            FailureThrottle::new(2, Duration::from_secs(60), 100),
        );
        let keys = |name: &str, ip: &str| [(&user, name.to_owned()), (&addr, ip.to_owned())];
        for _ in 0..5 {
            drop(Attempt::reserve(keys("ann", "1.2.3.4")).unwrap());
        }
        Attempt::reserve(keys("ann", "1.2.3.4")).unwrap().failed();
        Attempt::reserve(keys("ann", "5.6.7.8")).unwrap().failed();
        assert!(Attempt::reserve([(&user, "ann".to_owned())]).is_err(), "two failures lock the name");
        // A refused reservation leaves nothing reserved on the throttles before it.
        assert!(Attempt::reserve([(&addr, "9.9.9.9".to_owned()), (&user, "ann".to_owned())]).is_err());
        assert!(addr.reserve("9.9.9.9").is_ok() && addr.reserve("9.9.9.9").is_ok());
    }

    #[test]
    fn guessing_locks_out_the_guesser_and_only_slows_the_name_for_everyone_else() {
        let t = LoginThrottle::new(3, Duration::from_secs(60), 100);
        let (attacker, owner): (IpAddr, IpAddr) =
            ("198.51.100.1".parse().unwrap(), "203.0.113.5".parse().unwrap());
        for _ in 0..3 {
            let (attempt, delay) = t.begin("ann", attacker).unwrap();
            assert_eq!(delay, Duration::ZERO);
            attempt.failed();
        }
        assert!(t.begin("ann", attacker).is_err(), "the guesser is locked out of this name");
        assert!(t.begin("bob", attacker).is_ok(), "but not of other names");
        let (attempt, delay) = t.begin("ann", owner).expect("the owner is never locked out");
        assert_eq!(delay, SLOWDOWN_STEP, "only slowed down");
        drop(attempt);
        t.succeeded("ann", owner);
        assert_eq!(t.begin("ann", owner).unwrap().1, Duration::ZERO, "a success ends the slowdown");
    }

    #[test]
    fn one_address_guessing_many_names_is_locked_out_at_ten_times_the_limit() {
        let t = LoginThrottle::new(2, Duration::from_secs(60), 1000);
        let addr: IpAddr = "198.51.100.1".parse().unwrap();
        for i in 0..20 {
            t.begin(&format!("user{i}"), addr).unwrap().0.failed();
        }
        assert!(t.begin("someone-else", addr).is_err());
        assert!(t.begin("someone-else", "198.51.100.2".parse().unwrap()).is_ok());
    }

    #[test]
    fn the_slowdown_doubles_and_is_capped() {
        let t = LoginThrottle::new(1, Duration::from_secs(60), 1000);
        let delays: Vec<Duration> = (0..10u8)
            .map(|i| {
                let (attempt, delay) = t.begin("ann", IpAddr::from([10, 0, 0, i])).unwrap();
                attempt.failed();
                delay
            })
            .collect();
        assert_eq!(delays[0], Duration::ZERO);
        assert_eq!(delays[1], SLOWDOWN_STEP);
        assert_eq!(delays[2], SLOWDOWN_STEP * 2);
        assert_eq!(delays[9], MAX_SLOWDOWN);
    }

    #[test]
    fn throttle_memory_is_bounded() {
        let t = FailureThrottle::new(1, Duration::from_secs(60), 10);
        for i in 0..100 {
            t.reserve(&format!("user{i}")).unwrap();
        }
        assert!(t.entries.lock().unwrap().len() <= 10);
        assert!(t.reserve("user99").is_err());
    }
}
