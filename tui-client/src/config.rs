//! The config file: `$XDG_CONFIG_HOME/chat-tui/config.toml` (or `--config PATH`), every key
//! optional; `tui-client/config.example.toml` shows them all. Flags and environment variables
//! win over it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What the file may say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Server to use when neither `--server` nor `CHAT_SERVER` says.
    pub server: Option<String>,
    /// Rooms to join at start, besides `--room`.
    pub rooms: Vec<String>,
    /// Times before each line, as a strftime pattern (chrono's): default `%H:%M`.
    pub time_format: Option<String>,
    /// Take the mouse (wheel scrolling); off leaves selection to the terminal. Default on.
    pub mouse: Option<bool>,
    /// Ring the bell when a line names you. Default on.
    pub bell: Option<bool>,
    /// Send a desktop notification (OSC 777 and OSC 9) when a line names you. Default on.
    pub notify: Option<bool>,
    /// Nick colours: xterm-256 colour numbers. Default: 24 that read on dark and light.
    pub nick_colors: Vec<u8>,
    /// Web addresses as OSC 8 hyperlinks. Default on (off on the Linux console).
    pub hyperlinks: Option<bool>,
    /// Lines for people joining and leaving rooms (`--> alice joined #dev`). Default on.
    pub join_part_lines: Option<bool>,
    /// Say when you type, and show who else is typing, in the status line. Default on.
    pub typing: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Where the file is looked for when `--config` is not given.
    pub fn default_path() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "chat-tui").map(|d| d.config_dir().join("config.toml"))
    }

    /// Reads `path`; a missing file is the empty config unless it was asked for by name.
    ///
    /// # Errors
    /// An unreadable file, TOML that does not parse, an unknown key or a bad value, named with
    /// its line.
    pub fn load(path: &Path, must_exist: bool) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => return Ok(Self::default()),
            Err(source) => return Err(ConfigError::Read { path: path.to_owned(), source }),
        };
        Self::parse(&text).map_err(|message| ConfigError::Invalid { path: path.to_owned(), message })
    }

    fn parse(text: &str) -> Result<Self, String> {
        let config: Self = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
        if let Some(format) = &config.time_format {
            // chrono reports a bad pattern only when formatting: try it once here.
            use std::fmt::Write;
            let mut out = String::new();
            if write!(out, "{}", chrono::Utc::now().format(format)).is_err() {
                return Err(format!("time_format {format:?} is not a valid strftime pattern"));
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_optional_and_the_example_parses() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
        let example = include_str!("../config.example.toml");
        let config = Config::parse(example).expect("the example is valid");
        assert_eq!(config.rooms, ["dev", "random"]);
        assert_eq!(config.time_format.as_deref(), Some("%H:%M:%S"));
        assert_eq!(config.mouse, Some(true));
    }

    #[test]
    fn mistakes_are_named() {
        let unknown = Config::parse("colour = 1").unwrap_err();
        assert!(unknown.contains("colour"), "{unknown}");
        let typed = Config::parse("mouse = \"yes\"").unwrap_err();
        assert!(typed.contains("mouse") || typed.contains("bool"), "{typed}");
        assert!(Config::parse("time_format = \"%Q\"").is_err());
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Config::load(&dir.path().join("none.toml"), false).unwrap(), Config::default());
        assert!(Config::load(&dir.path().join("none.toml"), true).is_err());
    }
}
