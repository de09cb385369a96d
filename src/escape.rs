//! Safe display of attacker-controlled text (client ids, names, URIs) in logs and reports.

use std::fmt;

/// Displays a string with control, bidi-override and invisible characters escaped as
/// `\u{..}`, and cut to `max` characters, so a registration cannot forge log lines or
/// reorder what an operator reads.
pub struct Escaped<'a> {
    text: &'a str,
    max: usize,
    /// Escape every non-ASCII character too (look-alike names).
    ascii: bool,
    /// Keep backslashes: the text was built from escaped parts already.
    built: bool,
}

/// Escape for logs and error messages (cut at 200 characters).
pub fn esc(text: &str) -> Escaped<'_> {
    Escaped {
        text,
        max: 200,
        ascii: false,
        built: false,
    }
}

/// Escape with a chosen cut-off (reports use narrower columns).
pub fn esc_max(text: &str, max: usize) -> Escaped<'_> {
    Escaped {
        text,
        max,
        ascii: false,
        built: false,
    }
}

/// For text regwarden built from escaped parts (a reason's detail): cut to `max`, any hidden
/// character still escaped, but backslashes kept, so escapes already made are not doubled.
pub fn esc_built(text: &str, max: usize) -> Escaped<'_> {
    Escaped {
        text,
        max,
        ascii: false,
        built: true,
    }
}

/// Escape every non-ASCII character as well, for text that would pass for something it is
/// not (a name whose Cyrillic `С` reads as Latin `C`).
pub fn esc_ascii_max(text: &str, max: usize) -> Escaped<'_> {
    Escaped {
        text,
        max,
        ascii: true,
        built: false,
    }
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

impl Escaped<'_> {
    fn write(&self, f: &mut impl fmt::Write) -> fmt::Result {
        for (shown, c) in self.text.chars().enumerate() {
            if shown == self.max {
                return f.write_str("…");
            }
            match c {
                '\\' if !self.built => f.write_str("\\\\")?,
                c if is_hidden(c) || (self.ascii && !c.is_ascii()) => {
                    write!(f, "\\u{{{:x}}}", c as u32)?
                }
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.width().is_none() {
            return self.write(f);
        }
        // Table columns ({:<38}) pad what is shown, escapes included.
        let mut shown = String::new();
        self.write(&mut shown)?;
        f.pad(&shown)
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Serialized JSON with every hidden character that serde_json leaves raw (DEL, C1 controls,
/// bidi and invisible characters; it escapes only those below U+0020) written as a `\\uXXXX`
/// escape. Lossless: a JSON reader gets the same strings back, but a terminal or a log viewer
/// showing the JSON cannot be made to reorder or hide text. Outside strings JSON is ASCII, so
/// only string contents change.
pub fn json_safe(json: String) -> String {
    if !json.chars().any(|c| c >= '\u{7f}' && is_hidden(c)) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if c >= '\u{7f}' && is_hidden(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = fmt::Write::write_fmt(&mut out, format_args!("\\u{u:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One compact JSON line, hidden characters escaped ([`json_safe`]).
pub fn to_json_line<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    serde_json::to_string(value).map(json_safe)
}

/// Pretty JSON, hidden characters escaped ([`json_safe`]).
pub fn to_json_pretty<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    serde_json::to_string_pretty(value).map(json_safe)
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
    fn ascii_escape_shows_look_alikes() {
        assert_eq!(
            esc_ascii_max("\u{421}laude Code", 40).to_string(),
            "\\u{421}laude Code"
        );
        assert_eq!(esc_ascii_max("a\nb", 2).to_string(), "a\\u{a}…");
    }

    #[test]
    fn built_text_keeps_its_escapes() {
        let detail = format!("name {} mixes scripts", esc("a\u{202e}b"));
        assert_eq!(
            esc_built(&detail, 100).to_string(),
            "name a\\u{202e}b mixes scripts"
        );
        assert_eq!(esc_built("raw\u{1b}[0m", 100).to_string(), "raw\\u{1b}[0m");
    }

    #[test]
    fn cuts_long_text() {
        let long = "x".repeat(500);
        assert_eq!(esc_max(&long, 3).to_string(), "xxx…");
        assert_eq!(esc_max("abc", 3).to_string(), "abc");
    }

    #[test]
    fn pads_what_is_shown() {
        assert_eq!(format!("[{:<6}]", esc("a\nb")), "[a\\u{a}b]");
        assert_eq!(format!("[{:<4}]", esc("ab")), "[ab  ]");
        assert_eq!(format!("[{:>4}]", esc_max("abcdef", 2)), "[ ab…]");
    }

    #[test]
    fn json_keeps_strings_and_hides_nothing() {
        let hostile = "a\u{202e}b\u{1b}[31mc\u{85}d\u{200b}e\u{e0041}f\u{7f}\nü";
        let line = to_json_line(&serde_json::json!({ "name": hostile })).unwrap();
        assert!(!line.chars().any(is_hidden), "{line}");
        assert_eq!(
            line,
            r#"{"name":"a\u202eb\u001b[31mc\u0085d\u200be\udb40\udc41f\u007f\nü"}"#
        );
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            back["name"], hostile,
            "a JSON reader gets the very string back"
        );
        let pretty = to_json_pretty(&serde_json::json!({ "a": [hostile] })).unwrap();
        assert!(pretty.contains('\n'), "layout is kept");
        assert!(
            !pretty.chars().any(|c| c != '\n' && is_hidden(c)),
            "{pretty}"
        );
    }
}
