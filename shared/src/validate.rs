//! Input rules both sides apply: the client to hint early, the server to enforce.

use unicode_normalization::UnicodeNormalization;
use unicode_security::{
    GeneralSecurityProfile, RestrictionLevel, RestrictionLevelDetection, confusable_detection::skeleton,
};

/// Longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 64;
/// Username length bounds, in characters.
pub const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 3..=32;
/// Password length bounds, in bytes (argon2 and bcrypt both take bytes; bcrypt stops at 72).
pub const PASSWORD_BYTES: std::ops::RangeInclusive<usize> = 8..=72;

/// A room name as rooms are stored and compared: NFC, so that `café` typed precomposed or
/// decomposed is one room.
pub fn normalize_room(name: &str) -> String {
    name.nfc().collect()
}

/// A room is 1–64 characters (after NFC) that are identifier characters in any script
/// (Unicode `XID_Continue`, UAX #31: letters, combining marks, digits, `_`), `-` or `.`. `:` and
/// spaces are refused so that rooms can never collide with the server's internal rooms.
///
/// # Errors
/// The rule that was broken, as the text a client sees.
pub fn room(name: &str) -> Result<String, String> {
    let name = normalize_room(name);
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_ROOM_CHARS {
        return Err(format!("Room name must be 1 to {MAX_ROOM_CHARS} characters"));
    }
    if !name.chars().all(|c| unicode_ident::is_xid_continue(c) || matches!(c, '-' | '.')) {
        return Err("Room name may contain only letters, marks, digits, '-', '_' and '.'".into());
    }
    Ok(name)
}

/// Characters a username may have besides identifier characters.
const USERNAME_SEPARATORS: [char; 3] = [' ', '-', '.'];

/// A new username in the form it is stored and shown: NFKC (full-width and other compatibility
/// forms become plain ones), 3–32 characters that UTS #39 allows in identifiers (its General
/// Security Profile: letters, marks and digits of scripts in current use, `_`) or a single
/// space, `-` or `.` between them, in no mix of scripts that UTS #39's "highly restrictive"
/// level refuses (Latin with Cyrillic look-alikes; Latin with Han and kana is fine).
///
/// Names stored before these rules keep working: only signups are checked.
///
/// # Errors
/// The rule that was broken, as the text a client sees.
pub fn username(name: &str) -> Result<String, String> {
    let name: String = name.nfkc().collect();
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
    if name.trim() != name || name.contains("  ") {
        return Err("Username must not start or end with spaces, or have two in a row".into());
    }
    if !name.chars().all(|c| c.identifier_allowed() || USERNAME_SEPARATORS.contains(&c)) {
        return Err(
            "Username may contain only letters, marks, digits, '_', and single spaces, '-' or '.'".into()
        );
    }
    let letters: String = name.chars().filter(|c| !USERNAME_SEPARATORS.contains(c)).collect();
    if !letters.as_str().check_restriction_level(RestrictionLevel::HighlyRestrictive) {
        return Err("Username must not mix scripts that look alike (such as Latin and Cyrillic)".into());
    }
    Ok(name)
}

/// What two usernames must not share: the UTS #39 skeleton of the name's NFKC form in lower
/// case, so `alice`, `Alice`, `Ａlice` (full-width) and `Аlice` (Cyrillic А) are one name, as
/// are the two normal forms of `José`. Lower-casing stands in for full case folding.
pub fn username_key(name: &str) -> String {
    let folded: String = name.nfkc().flat_map(char::to_lowercase).collect();
    skeleton(&folded).collect()
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
            assert_eq!(room(ok).as_deref(), Ok(ok), "{ok}");
        }
        for bad in ["", "with space", "sid:abc", "user:1", "a/b", "tab\t", &"x".repeat(65)] {
            assert!(room(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rooms_in_every_script_are_one_room_whatever_their_normal_form() {
        for ok in ["हिन्दी", "नमस्ते", "தமிழ்", "ห้อง", "café", "한국어", "עברית", "العربية"]
        {
            assert_eq!(room(ok).as_deref(), Ok(ok), "{ok}");
        }
        let decomposed = "cafe\u{301}";
        assert_eq!(room(decomposed).as_deref(), Ok("café"));
        assert_eq!(normalize_room(decomposed), "café");
        // The length counts characters after composition.
        assert!(room(&"e\u{301}".repeat(64)).is_ok());
    }

    #[test]
    fn usernames() {
        for ok in [
            "ann",
            "Ann Lee",
            "李小龙",
            "ann_lee",
            "o.neil",
            "Jean-Luc",
            "José",
            "山田たろう",
            &"u".repeat(32),
        ] {
            assert_eq!(username(ok).as_deref(), Ok(ok), "{ok}");
        }
        for bad in ["", "ab", " ann", "ann ", "a  b", "a\u{7}nn", "ann!", "a/b", &"u".repeat(33)] {
            assert!(username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn usernames_are_stored_in_nfkc_and_mixed_script_look_alikes_are_refused() {
        assert_eq!(username("Ａlice").as_deref(), Ok("Alice"), "full-width becomes plain");
        assert_eq!(username("Jose\u{301}").as_deref(), Ok("José"));
        let mixed = username("\u{410}lice").unwrap_err();
        assert!(mixed.contains("mix scripts"), "{mixed}");
        for ok in ["हिन्दी", "தமிழ்", "ห้อง", "Ελένη", "Иван"] {
            assert!(username(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn look_alike_usernames_share_a_key() {
        let alice = username_key("alice");
        for same in ["Alice", "ALICE", "Ａlice", "\u{410}lice", "\u{430}lice"] {
            assert_eq!(username_key(same), alice, "{same}");
        }
        assert_eq!(username_key("José"), username_key("Jose\u{301}"));
        assert_eq!(username_key("JOSÉ"), username_key("josé"));
        for other in ["bob", "alicia", "jose"] {
            assert_ne!(username_key(other), alice, "{other}");
        }
        assert_ne!(username_key("josé"), username_key("jose"));
    }

    #[test]
    fn passwords() {
        assert!(password("correct horse").is_ok());
        assert!(password("short").is_err());
        assert!(password(&"p".repeat(73)).is_err());
        assert!(password("new\nline pass").is_err());
    }
}
