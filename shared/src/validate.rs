//! Input rules both sides apply: the client to hint early, the server to enforce.

/// Longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 64;
/// Username length bounds, in characters.
pub const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 3..=32;
/// Password length bounds, in bytes (argon2 and bcrypt both take bytes; bcrypt stops at 72).
pub const PASSWORD_BYTES: std::ops::RangeInclusive<usize> = 8..=72;

/// A room is 1–64 letters, digits, `-`, `_` or `.` in any script. `:` and spaces are
/// refused so that rooms can never collide with the server's internal rooms.
pub fn room(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_ROOM_CHARS {
        return Err(format!("Room name must be 1 to {MAX_ROOM_CHARS} characters"));
    }
    if !name.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err("Room name may contain only letters, digits, '-', '_' and '.'".into());
    }
    Ok(())
}

/// A username is 3–32 characters with no control characters and no surrounding spaces.
pub fn username(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if !USERNAME_CHARS.contains(&chars) {
        return Err(format!(
            "Username must be {} to {} characters",
            USERNAME_CHARS.start(),
            USERNAME_CHARS.end()
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("Username must not contain control characters".into());
    }
    if name.trim() != name {
        return Err("Username must not start or end with spaces".into());
    }
    Ok(())
}

/// A password is 8–72 bytes with no control characters.
pub fn password(pw: &str) -> Result<(), String> {
    if !PASSWORD_BYTES.contains(&pw.len()) {
        return Err(format!("Password must be {} to {} bytes", PASSWORD_BYTES.start(), PASSWORD_BYTES.end()));
    }
    if pw.chars().any(char::is_control) {
        return Err("Password must not contain control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms() {
        for ok in ["public", "test", "a", "dev-ops_2.0", "聊天室", &"x".repeat(64)] {
            assert!(room(ok).is_ok(), "{ok}");
        }
        for bad in ["", "with space", "sid:abc", "user:1", "a/b", "tab\t", &"x".repeat(65)] {
            assert!(room(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames() {
        for ok in ["ann", "Ann Lee", "李小龙", &"u".repeat(32)] {
            assert!(username(ok).is_ok(), "{ok}");
        }
        for bad in ["", "ab", " ann", "ann ", "a\u{7}nn", &"u".repeat(33)] {
            assert!(username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(password("correct horse").is_ok());
        assert!(password("short").is_err());
        assert!(password(&"p".repeat(73)).is_err());
        assert!(password("new\nline pass").is_err());
    }
}
