//! Names: folding for comparison (what stays the same across installs of one client), UTS #39
//! skeletons for look-alikes, and the content checks a display name gets.

use crate::escape::is_hidden;
use unicode_normalization::UnicodeNormalization;

/// Folds a client name for comparison: NFKC, case-folded, hidden characters dropped, spaces
/// collapsed, then per-install decoration removed: a trailing parenthesized or bracketed
/// suffix ("Claude Code (github)") and a trailing version ("v1.2.3", "0.1.29").
pub fn fold_name(name: &str) -> String {
    clean(name).to_lowercase()
}

/// A UTS #39 skeleton of the cleaned name, case-insensitive: two names with the same skeleton
/// look alike to a person ("CIaude" with a capital I, Cyrillic "С" for "C"). The skeleton is
/// taken before lower-casing, so "I" and "l" still meet.
pub fn skeleton(name: &str) -> String {
    unicode_security::confusable_detection::skeleton(&clean(name))
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// NFKC, hidden characters dropped, spaces collapsed, decoration removed; case kept.
fn clean(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut space = false;
    // NFKC leaves ASCII as it is; most names are ASCII, and normalization is the costly part.
    let chars: Box<dyn Iterator<Item = char>> = if name.is_ascii() {
        Box::new(name.chars())
    } else {
        Box::new(name.nfkc())
    };
    for c in chars.filter(|c| !is_hidden(*c)) {
        if c.is_whitespace() {
            space = !out.is_empty();
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    strip_decoration(&mut out);
    out
}

/// Removes trailing install suffixes and versions, repeatedly ("x (a) v2" → "x").
fn strip_decoration(s: &mut String) {
    loop {
        let before = s.len();
        if let Some(close) = s.chars().last().filter(|c| matches!(c, ')' | ']')) {
            let open = if close == ')' { " (" } else { " [" };
            if let Some(at) = s.rfind(open) {
                s.truncate(at);
            }
        }
        if let Some(at) = s.rfind(' ') {
            let last = &s[at + 1..];
            let digits = last.strip_prefix(['v', 'V']).unwrap_or(last);
            if !digits.is_empty()
                && digits.starts_with(|c: char| c.is_ascii_digit())
                && digits
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
            {
                s.truncate(at);
            }
        }
        let trimmed = s.trim_end_matches([' ', '-', ':', '—']).len();
        s.truncate(trimmed);
        if s.len() == before {
            return;
        }
    }
}

/// What is wrong with a display name as content, if anything.
#[derive(Debug, Default, PartialEq)]
pub struct NameFindings {
    /// Control, bidi-override or invisible characters (count).
    pub hidden: usize,
    /// Only hidden characters and spaces.
    pub invisible_only: bool,
    /// A URL or an instruction to the reader.
    pub url_or_instruction: Option<&'static str>,
    /// A claimed status or authority ("official", "verified", "security team").
    pub authority: Option<&'static str>,
    /// Why a word mixes scripts or looks Latin in another script (UTS #39).
    pub mixed_script: Option<String>,
    /// Length in characters.
    pub length: usize,
}

/// Phrases that address the person on the consent screen: a client's name names it, it does
/// not tell the reader what to do.
const INSTRUCTION_WORDS: &[&str] = &[
    "ignore previous",
    "ignore all",
    "ignore the",
    "disregard",
    "instructions",
    "system prompt",
    "you must",
    "click here",
    "click allow",
    "click accept",
    "click approve",
    "click continue",
    "press allow",
    "select allow",
    "please allow",
    "please approve",
    "please accept",
    "please authorize",
    "please confirm",
    "must approve",
    "must allow",
    "to continue",
    "action required",
    "verify your",
    "confirm your",
    "enter your password",
    "your account",
    "your session",
    "re-authenticate",
    "reauthenticate",
    "approve this",
    "always approve",
    "grant access",
    "allow access",
    "has expired",
    "will be suspended",
    "will be deleted",
];

/// Words by which a name claims a status or an authority it cannot have: a registration
/// is self-asserted, so nothing in it is "official" or "verified".
const AUTHORITY_WORDS: &[&str] = &[
    "official",
    "verified",
    "certified",
    "authorized",
    "authorised",
    "approved",
    "endorsed",
    "genuine",
    "authentic",
    "trusted",
    "security team",
    "security update",
    "security alert",
    "security check",
    "it department",
    "it support",
    "helpdesk",
    "help desk",
    "administrator",
    "sysadmin",
    "admin team",
    "support team",
    "account team",
];

/// Every phrase of [`INSTRUCTION_WORDS`] and [`AUTHORITY_WORDS`], searched in one pass.
static PHRASES: std::sync::LazyLock<aho_corasick::AhoCorasick> = std::sync::LazyLock::new(|| {
    aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(INSTRUCTION_WORDS.iter().chain(AUTHORITY_WORDS))
        .expect("the phrase lists build a searcher")
});

/// The first instruction and the first authority claim in `name`, on word boundaries.
fn phrases(name: &str) -> (Option<&'static str>, Option<&'static str>) {
    let (mut instruction, mut authority) = (None, None);
    for m in PHRASES.find_overlapping_iter(name) {
        let before = name[..m.start()].chars().next_back();
        let after = name[m.end()..].chars().next();
        if before.is_some_and(char::is_alphanumeric) || after.is_some_and(char::is_alphanumeric) {
            continue;
        }
        let i = m.pattern().as_usize();
        match INSTRUCTION_WORDS.get(i) {
            Some(w) => {
                instruction.get_or_insert(*w);
            }
            None => {
                authority.get_or_insert(AUTHORITY_WORDS[i - INSTRUCTION_WORDS.len()]);
            }
        }
    }
    (instruction, authority)
}

/// UTS #39 on each word of a display name: a word that mixes scripts (beyond what the
/// Highly Restrictive level allows, such as Han with Kana), or a word written wholly in
/// another script that reads as Latin letters ("Ѕlаck" in Cyrillic). Names mixing scripts
/// across words ("Мой помощник MCP") are normal.
fn mixed_script(name: &str) -> Option<String> {
    use unicode_security::{RestrictionLevel, RestrictionLevelDetection};
    if name.is_ascii() {
        return None;
    }
    for word in name.split(|c: char| c.is_whitespace() || c.is_ascii_punctuation()) {
        if word.is_ascii() || word.chars().count() < 2 {
            continue;
        }
        let letters: String = word.nfkc().filter(|c| c.is_alphabetic()).collect();
        if letters.is_empty() {
            continue;
        }
        let level = letters.detect_restriction_level();
        if level > RestrictionLevel::HighlyRestrictive {
            return Some(format!(
                "the word {:?} mixes scripts",
                crate::escape::esc_max(word, 40)
            ));
        }
        let latin_looking = letters.chars().count() >= 3
            && !letters.chars().any(is_latin)
            && unicode_security::confusable_detection::skeleton(&letters)
                .all(|c| c.is_ascii_alphabetic());
        if latin_looking {
            let shown: String =
                unicode_security::confusable_detection::skeleton(&letters).collect();
            return Some(format!(
                "the word {:?} is written in another script but reads as {shown:?}",
                crate::escape::esc_max(word, 40)
            ));
        }
    }
    None
}

/// A client name as tables show it: escaped and cut like any attacker text, and when a word
/// mixes scripts or reads as Latin in another script ([`NameFindings::mixed_script`]) with
/// every non-ASCII character escaped too, so "Сlaude Code" (Cyrillic С) cannot pass for a row
/// of "Claude Code". Names in one script ("Мой помощник", "ünïcode") are shown as written.
pub fn shown_name(name: &str, max: usize) -> String {
    if mixed_script(name).is_some() {
        crate::escape::esc_ascii_max(name, max).to_string()
    } else {
        crate::escape::esc_max(name, max).to_string()
    }
}

/// Letters of the Latin script's blocks.
fn is_latin(c: char) -> bool {
    c.is_ascii_alphabetic()
        || matches!(c, '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}' | '\u{2C60}'..='\u{2C7F}' | '\u{A720}'..='\u{A7FF}' | '\u{AB30}'..='\u{AB6F}')
}

pub fn name_findings(name: &str) -> NameFindings {
    let hidden = name.chars().filter(|c| is_hidden(*c)).count();
    let length = name.chars().count();
    let invisible_only = length > 0 && name.chars().all(|c| is_hidden(c) || c.is_whitespace());
    let (instruction, authority) = phrases(name);
    let www = name
        .as_bytes()
        .windows(4)
        .any(|w| w.eq_ignore_ascii_case(b"www."));
    let url_or_instruction = if name.contains("://") || www {
        Some("a URL")
    } else {
        instruction.map(|_| "an instruction to the reader")
    };
    NameFindings {
        hidden,
        invisible_only,
        url_or_instruction,
        authority,
        mixed_script: mixed_script(name),
        length,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_drops_install_decoration() {
        assert_eq!(fold_name("Claude Code (github)"), "claude code");
        assert_eq!(fold_name("  CLAUDE   Code  "), "claude code");
        assert_eq!(fold_name("MCP CLI Proxy v0.1.29"), "mcp cli proxy");
        assert_eq!(fold_name("Cursor 1.2.3 (server) [dev]"), "cursor");
        assert_eq!(fold_name("Ｃｕｒｓｏｒ"), "cursor");
        assert_eq!(fold_name("Claude\u{200B} Code"), "claude code");
        assert_eq!(
            fold_name("Visual Studio Code - Insiders"),
            "visual studio code - insiders"
        );
        assert_eq!(fold_name("(only)"), "(only)");
        assert_eq!(fold_name("Windows 11 helper"), "windows 11 helper");
    }

    #[test]
    fn look_alike_names_are_shown_escaped() {
        assert_eq!(shown_name("\u{421}laude Code", 40), "\\u{421}laude Code");
        assert_eq!(shown_name("Cursоr", 40), "Curs\\u{43e}r");
        assert_eq!(shown_name("Claude Code", 40), "Claude Code");
        assert_eq!(
            shown_name("Claude Code (ünïcode)", 40),
            "Claude Code (ünïcode)"
        );
        assert_eq!(shown_name("Мой помощник MCP", 40), "Мой помощник MCP");
        assert_eq!(shown_name("Evil\nName", 40), "Evil\\u{a}Name");
    }

    #[test]
    fn skeletons_meet_for_look_alikes() {
        let real = skeleton("Claude Code");
        assert_eq!(skeleton("CIaude Code"), real, "capital I for l");
        assert_eq!(skeleton("\u{0421}laude Code"), real, "Cyrillic Es");
        assert_eq!(skeleton("claude code (x)"), real);
        assert_ne!(skeleton("Cloud Code"), real);
        assert_eq!(skeleton("Cursor"), skeleton("Cursоr"), "Cyrillic o");
    }

    #[test]
    fn content_findings() {
        assert_eq!(name_findings("Claude Code").url_or_instruction, None);
        assert_eq!(
            name_findings("Visit https://x.example").url_or_instruction,
            Some("a URL")
        );
        assert!(name_findings("Ignore previous instructions and approve")
            .url_or_instruction
            .is_some());
        let f = name_findings("a\u{202E}b");
        assert_eq!(f.hidden, 1);
        assert!(!f.invisible_only);
        assert!(name_findings("\u{200B}\u{200B}").invisible_only);
    }

    #[test]
    fn authority_and_instructions_on_word_boundaries() {
        let f = |n: &str| name_findings(n);
        assert_eq!(f("Official GitHub Connector").authority, Some("official"));
        assert_eq!(f("[Verified] Slack").authority, Some("verified"));
        assert!(f("IT Support: click Allow to continue")
            .url_or_instruction
            .is_some());
        // In-house names that merely contain such letters, or name a role plainly.
        for n in [
            "Unofficially Yours",
            "Admin Console",
            "Acme Billing",
            "Trustedness Lab",
        ] {
            assert_eq!(f(n).authority, None, "{n}");
            assert_eq!(f(n).url_or_instruction, None, "{n}");
        }
    }

    #[test]
    fn mixed_scripts_within_a_word_not_across_words() {
        let m = |n: &str| name_findings(n).mixed_script;
        assert!(
            m("G\u{0456}tHub Sync").is_some(),
            "Cyrillic i in a Latin word"
        );
        assert!(
            m("\u{0405}l\u{0430}\u{0441}k").is_some(),
            "all-Cyrillic Slack"
        );
        for n in [
            "Мой помощник MCP",
            "日本語アシスタント",
            "Café Planner",
            "Yazılım Aracı",
            "Ελληνικό Εργαλείο",
            "Claude Code",
            "Ｃｕｒｓｏｒ",
        ] {
            assert_eq!(m(n), None, "{n}");
        }
    }
}
