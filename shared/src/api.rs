//! HTTP API paths and bodies.

use serde::{Deserialize, Serialize};

/// `POST` → 201 `{id, username}`.
pub const SIGNUP_PATH: &str = "/api/v1/user/signup";
/// `POST` → 200 [`LoginResponse`].
pub const LOGIN_PATH: &str = "/api/v1/user/login";
/// `GET {USERS_PATH}/{id}` → [`UserResponse`].
pub const USERS_PATH: &str = "/api/v1/users";
/// Where Socket.IO's (Engine.IO's) requests go: socket.io's default `path`, the one
/// unmodified clients use (`/socket.io/?EIO=4&transport=…`).
pub const SOCKET_IO_PATH: &str = "/socket.io";
/// Liveness: 200 [`Health`] while the process serves, whatever its store and adapter say.
pub const HEALTH_PATH: &str = "/healthz";
/// Prometheus metrics (text format), on the main port unless the server was given a
/// separate metrics address.
pub const METRICS_PATH: &str = "/metrics";
/// Readiness: 200 [`Health`] when the store and the adapter's backend answer, else 503 with
/// the same body (for load balancers and orchestrators).
pub const READY_PATH: &str = "/readyz";

/// Body of `/healthz` and `/readyz`: `status` is `ok` or `unavailable`; `store` and `adapter`
/// likewise (`adapter` is `local` for a single node).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub store: String,
    pub adapter: String,
}

/// Body of signup and login. Its `Debug` hides the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"…").finish()
    }
}

/// Signup's 201 body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignupResponse {
    pub id: String,
    pub username: String,
}

/// Login's body: a JWT (HS256, `sub` = user id, 24 h).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResponse {
    pub token: String,
}

/// `GET /api/v1/users/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserResponse {
    pub username: String,
}

/// Every 4xx/5xx body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: String,
}

/// The path of one user.
pub fn user_path(id: &str) -> String {
    format!("{USERS_PATH}/{id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_have_the_node_backend_shapes() {
        let c: Credentials = serde_json::from_value(json!({"username": "ann", "password": "pw"})).unwrap();
        assert_eq!(c, Credentials { username: "ann".into(), password: "pw".into() });
        assert_eq!(serde_json::to_value(LoginResponse { token: "t".into() }).unwrap(), json!({"token": "t"}));
        assert_eq!(
            serde_json::to_value(UserResponse { username: "ann".into() }).unwrap(),
            json!({"username": "ann"})
        );
        assert_eq!(
            serde_json::to_value(ErrorResponse { error: "nope".into() }).unwrap(),
            json!({"error": "nope"})
        );
        assert_eq!(
            serde_json::to_value(SignupResponse { id: "1".into(), username: "ann".into() }).unwrap(),
            json!({"id": "1", "username": "ann"})
        );
        assert_eq!(user_path("abc"), "/api/v1/users/abc");
    }
}
