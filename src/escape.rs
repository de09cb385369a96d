//! Safe display of attacker-controlled text (client ids, names, URIs) in logs and reports.

use std::fmt;

/// Displays a string with control, bidi-override and invisible characters escaped as
/// `\u{..}`, and cut to `max` characters, so a registration cannot forge log lines or
/// reorder what an operator reads.
pub struct Escaped<'a> {
    text: &'a str,
    max: usize,
}

/// Escape for logs and error messages (cut at 200 characters).
pub fn esc(text: &str) -> Escaped<'_> {
    Escaped { text, max: 200 }
}

/// Escape with a chosen cut-off (reports use narrower columns).
pub fn esc_max(text: &str, max: usize) -> Escaped<'_> {
    Escaped { text, max }
}

/// True for characters that change how surrounding text is shown without being visible:
/// C0/C1 controls, bidi embeddings, overrides and isolates, zero-width and other invisible
/// formatting characters.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
            | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{E0000}'..='\u{E0FFF}')
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (shown, c) in self.text.chars().enumerate() {
            if shown == self.max {
                return f.write_str("…");
            }
            match c {
                '\\' => f.write_str("\\\\")?,
                c if is_hidden(c) => write!(f, "\\u{{{:x}}}", c as u32)?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_bidi_and_invisibles() {
        assert_eq!(esc("a\nb").to_string(), "a\\u{a}b");
        assert_eq!(esc("evil\u{202E}txt").to_string(), "evil\\u{202e}txt");
        assert_eq!(esc("zero\u{200B}width").to_string(), "zero\\u{200b}width");
        assert_eq!(esc("back\\slash").to_string(), "back\\\\slash");
        assert_eq!(
            esc("Claude Code (ünïcode)").to_string(),
            "Claude Code (ünïcode)"
        );
    }

    #[test]
    fn cuts_long_text() {
        let long = "x".repeat(500);
        assert_eq!(esc_max(&long, 3).to_string(), "xxx…");
        assert_eq!(esc_max("abc", 3).to_string(), "abc");
    }
}
