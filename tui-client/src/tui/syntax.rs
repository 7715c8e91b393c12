//! Syntax highlighting of fenced code blocks, with syntect's built-in grammars and theme
//! (its pure-Rust regex engine, so no C library). The grammars load once, in the background
//! when the UI starts (or on the first code block shown, whichever comes first); each block is highlighted once and kept, because the thread is laid out on
//! every frame and highlighting is far slower than layout.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex};

use ratatui::style::{Color, Modifier, Style};
use syntect::easy::HighlightLines;
use syntect::highlighting::{FontStyle, Theme, ThemeSet};
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

/// A code block's lines, each as pieces of text in their style.
pub type Highlighted = Vec<Vec<(String, Style)>>;

static SYNTAXES: LazyLock<SyntaxSet> = LazyLock::new(SyntaxSet::load_defaults_newlines);

/// A dark theme: terminals are dark more often than not, and its colours are mid-bright.
static THEME: LazyLock<Theme> = LazyLock::new(|| {
    let mut themes = ThemeSet::load_defaults().themes;
    themes
        .remove("base16-ocean.dark")
        .expect("syntect ships base16-ocean.dark")
});

/// Blocks highlighted so far, by a hash of their language and text. Cleared when it grows
/// past `CACHE_MAX` (a long session's scrolling), so it never holds more than a few screens.
static CACHE: LazyLock<Mutex<HashMap<u64, Arc<Highlighted>>>> = LazyLock::new(Default::default);
const CACHE_MAX: usize = 256;

/// Loads the grammars and theme on a thread of their own, so that the first code block
/// drawn does not stall the UI for them (a quarter of a second in a debug build).
pub fn warm_up() {
    std::thread::spawn(|| {
        LazyLock::force(&SYNTAXES);
        LazyLock::force(&THEME);
    });
}

/// `code` (already sanitized: no control characters, tabs expanded) highlighted as `lang`
/// (a name or file extension: `rust`, `rs`, `py`, `sh`…); in plain code colour when the
/// language is unknown or not given.
pub fn highlight(code: &str, lang: &str) -> Arc<Highlighted> {
    let mut hasher = DefaultHasher::new();
    (lang, code).hash(&mut hasher);
    let key = hasher.finish();
    // A panic elsewhere while holding the lock leaves a cache that is still valid.
    let cached = CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .cloned();
    if let Some(found) = cached {
        return found;
    }
    let lines = Arc::new(run(code, lang).unwrap_or_else(|| plain(code)));
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= CACHE_MAX {
        cache.clear();
    }
    cache.insert(key, Arc::clone(&lines));
    lines
}

/// How code is shown when its language is not known.
pub fn plain_style() -> Style {
    Style::default().fg(Color::Gray)
}

fn plain(code: &str) -> Highlighted {
    code.split('\n')
        .map(|line| vec![(line.to_owned(), plain_style())])
        .collect()
}

fn run(code: &str, lang: &str) -> Option<Highlighted> {
    if lang.is_empty() {
        return None;
    }
    let syntax = SYNTAXES.find_syntax_by_token(lang)?;
    let mut highlighter = HighlightLines::new(syntax, &THEME);
    let mut lines = Vec::new();
    for line in LinesWithEndings::from(code) {
        let pieces = highlighter.highlight_line(line, &SYNTAXES).ok()?;
        let styled = pieces
            .into_iter()
            .map(|(style, text)| (text.trim_end_matches('\n').to_owned(), convert(style)))
            .filter(|(text, _)| !text.is_empty())
            .collect();
        lines.push(styled);
    }
    if code.is_empty() || code.ends_with('\n') {
        lines.push(Vec::new());
    }
    Some(lines)
}

/// syntect's colour and font style as ratatui's (the theme's background is left to the
/// terminal).
fn convert(style: syntect::highlighting::Style) -> Style {
    let fg = style.foreground;
    let mut out = Style::default().fg(Color::Rgb(fg.r, fg.g, fg.b));
    for (font, modifier) in [
        (FontStyle::BOLD, Modifier::BOLD),
        (FontStyle::ITALIC, Modifier::ITALIC),
        (FontStyle::UNDERLINE, Modifier::UNDERLINED),
    ] {
        if style.font_style.contains(font) {
            out = out.add_modifier(modifier);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_is_coloured_and_unknown_languages_are_plain() {
        let lines = highlight("fn main() {\n    let x = 1;\n}", "rust");
        assert_eq!(lines.len(), 3);
        let text: String = lines[1].iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(text, "    let x = 1;");
        let keyword = lines[0].iter().find(|(t, _)| t == "fn").map(|(_, s)| *s);
        let name = lines[0].iter().find(|(t, _)| t == "main").map(|(_, s)| *s);
        assert!(
            matches!(keyword.and_then(|s| s.fg), Some(Color::Rgb(..))),
            "{lines:?}"
        );
        assert_ne!(keyword, name, "{lines:?}");
        assert_eq!(
            *highlight("a\nb", "no-such-language"),
            vec![
                vec![("a".to_owned(), plain_style())],
                vec![("b".to_owned(), plain_style())]
            ]
        );
        assert!(Arc::ptr_eq(
            &highlight("fn main() {\n    let x = 1;\n}", "rust"),
            &lines
        ));
    }
}
