//! The wording of what the server says itself, as `chat.message` without a `username`
//! ([`crate::payload::SystemMessage`]).

/// Sent to a room when a user joins it: on connect (the handshake room) and on every
/// `chat.join`. Chapter 15's wording, so its client shows the same line.
pub fn user_joined(username: &str, room: &str) -> String {
    format!("User \"{username}\" joined room \"{room}\"")
}

/// Most names a notice of several joins spells out; the others are counted.
pub const NAMES_SHOWN: usize = 5;

/// Sent to a room instead of one [`user_joined`] line per join when several people joined it
/// within one notice window: `Users "bob", "carol" and "dave" joined room "dev"`, with at
/// most [`NAMES_SHOWN`] names and then `and N others`. Ours; chapter 15 has no storms.
pub fn users_joined(usernames: &[String], room: &str) -> String {
    format!("Users {} joined room \"{room}\"", name_list(usernames, |name| format!("\"{name}\"")))
}

/// `a`, `a and b`, `a, b and c`, …, or `a, b, c, d, e and 3 others` past [`NAMES_SHOWN`]:
/// `names`, each as `show` writes it.
pub fn name_list(names: &[String], show: impl Fn(&str) -> String) -> String {
    let shown: Vec<String> = names.iter().take(NAMES_SHOWN).map(|n| show(n)).collect();
    match (shown.split_last(), names.len().saturating_sub(NAMES_SHOWN)) {
        (None, _) => String::new(),
        (Some((last, [])), 0) => last.clone(),
        (Some((last, rest)), 0) => format!("{} and {last}", rest.join(", ")),
        (Some(_), 1) => format!("{} and 1 other", shown.join(", ")),
        (Some(_), others) => format!("{} and {others} others", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("u{i}")).collect()
    }

    #[test]
    fn several_joins_name_five_and_count_the_rest() {
        assert_eq!(users_joined(&names(1), "r"), r#"Users "u0" joined room "r""#);
        assert_eq!(users_joined(&names(2), "r"), r#"Users "u0" and "u1" joined room "r""#);
        assert_eq!(users_joined(&names(5), "r"), r#"Users "u0", "u1", "u2", "u3" and "u4" joined room "r""#);
        assert_eq!(
            users_joined(&names(6), "r"),
            r#"Users "u0", "u1", "u2", "u3", "u4" and 1 other joined room "r""#
        );
        assert_eq!(name_list(&names(200), str::to_owned), "u0, u1, u2, u3, u4 and 195 others");
        assert_eq!(name_list(&[], str::to_owned), "");
    }
}
