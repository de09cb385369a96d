//! Checks every target shares: text regwarden builds for people never carries a character
//! that could forge a log line or reorder what an operator reads (escape.rs).

use regwarden::escape::is_hidden;

/// Panics (a fuzz finding) when `text`, which regwarden built for display, holds a raw
/// control, bidi or invisible character.
pub fn assert_displayable(what: &str, text: &str) {
    if let Some(c) = text.chars().find(|&c| is_hidden(c)) {
        panic!("{what} holds U+{:04X} unescaped: {text:?}", c as u32);
    }
}
