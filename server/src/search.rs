//! Message search's words, the same for both engines: a message's text and a query are cut into
//! words here, once, so that SQLite's FTS5 and PostgreSQL's `tsvector` index and match the very
//! same words (each engine only splits the prepared text at its spaces).
//!
//! A word is a run of letters and digits, lowercased by full case folding, accents removed
//! (compatibility decomposition, combining marks dropped, then recomposed: `Ｃafé` → `cafe`);
//! each Han, Hiragana, Katakana or Hangul character is a word of its own, so that a phrase of
//! them matches anywhere inside a run of text written without spaces. A query is words and
//! `"quoted phrases"`, all of which must match; its last unquoted word also matches as a prefix.

use std::ops::Range;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use unicode_script::{Script, UnicodeScript};

/// The most characters of a query.
pub const MAX_QUERY_CHARS: usize = 256;
/// The most terms (words and phrases) of a query.
pub const MAX_TERMS: usize = 16;
/// Longer words are left out of the index (PostgreSQL skips words over 2047 bytes; both
/// engines skip them alike this way).
const MAX_WORD_CHARS: usize = 100;
/// A snippet's characters at most, ellipses included.
pub const SNIPPET_CHARS: usize = 200;
/// Characters kept before the first match when a snippet is cut from a longer text.
const SNIPPET_LEAD: usize = 60;

/// One word of a text and where it stands there, in characters.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    text: String,
    chars: Range<usize>,
}

/// Whether `c` is written without spaces between words (each such character is a word).
fn stands_alone(c: char) -> bool {
    matches!(
        c.script(),
        Script::Han | Script::Hiragana | Script::Katakana | Script::Hangul
    )
}

/// Ends the word being read (`current`, standing at `chars`), folded, unless it is empty or
/// too long.
fn finish(current: &mut String, chars: Range<usize>, found: &mut Vec<Word>) {
    if current.is_empty() {
        return;
    }
    let folded: String = caseless::default_case_fold_str(current)
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .nfc()
        .collect();
    current.clear();
    if !folded.is_empty() && folded.chars().count() <= MAX_WORD_CHARS {
        found.push(Word {
            text: folded,
            chars,
        });
    }
}

/// The words of `text`, with their character ranges.
fn words(text: &str) -> Vec<Word> {
    let mut found = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    let mut end = 0;
    for (i, c) in text.chars().enumerate() {
        end = i + 1;
        if stands_alone(c) {
            finish(&mut current, start..i, &mut found);
            current.push(c);
            finish(&mut current, i..i + 1, &mut found);
        } else if c.is_alphanumeric() || (is_combining_mark(c) && !current.is_empty()) {
            if current.is_empty() {
                start = i;
            }
            current.push(c);
        } else {
            finish(&mut current, start..i, &mut found);
        }
    }
    finish(&mut current, start..end, &mut found);
    found
}

/// What the index holds for a message's `text`: its words joined by single spaces.
pub fn index_text(text: &str) -> String {
    let words: Vec<String> = words(text).into_iter().map(|w| w.text).collect();
    words.join(" ")
}

/// One term of a query: words that must follow each other, the last perhaps as a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub words: Vec<String>,
    pub prefix: bool,
}

/// A parsed query: every term must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub terms: Vec<Term>,
}

/// Why a query cannot be searched for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the query has no words to search for")]
    Empty,
    #[error("the query is longer than {MAX_QUERY_CHARS} characters")]
    TooLong,
    #[error("the query has more than {MAX_TERMS} words and phrases")]
    TooManyTerms,
}

impl Query {
    /// Parses `query`: `"quoted phrases"` (an unclosed quote runs to the end) and words; a word
    /// holding several (`foo-bar`, `東京`) is a phrase of them. The last word, when unquoted and
    /// not a character standing alone, matches as a prefix too.
    pub fn parse(query: &str) -> Result<Query, QueryError> {
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(QueryError::TooLong);
        }
        let mut terms = Vec::new();
        let mut last_unquoted = false;
        for (i, part) in query.split('"').enumerate() {
            if i % 2 == 1 {
                let words: Vec<String> = words(part).into_iter().map(|w| w.text).collect();
                if !words.is_empty() {
                    terms.push(Term {
                        words,
                        prefix: false,
                    });
                    last_unquoted = false;
                }
                continue;
            }
            for chunk in part.split_whitespace() {
                let found = words(chunk);
                if let Some(last) = found.last() {
                    let alone = last.text.chars().all(stands_alone);
                    terms.push(Term {
                        words: found.into_iter().map(|w| w.text).collect(),
                        prefix: false,
                    });
                    last_unquoted = !alone;
                }
            }
        }
        // Only a word at the very end is still being typed.
        let ends_open = !query.ends_with(char::is_whitespace) && !query.ends_with('"');
        if let Some(last) = terms.last_mut() {
            last.prefix = last_unquoted && ends_open;
        }
        match terms.len() {
            0 => Err(QueryError::Empty),
            n if n > MAX_TERMS => Err(QueryError::TooManyTerms),
            _ => Ok(Query { terms }),
        }
    }

    /// The query in FTS5's syntax: each term a quoted phrase, `*` after a prefix. Words hold
    /// only letters and digits, so quoting them needs no escapes.
    pub fn fts5(&self) -> String {
        let terms: Vec<String> = self
            .terms
            .iter()
            .map(|t| {
                let star = if t.prefix { "*" } else { "" };
                format!("\"{}\"{star}", t.words.join(" "))
            })
            .collect();
        terms.join(" ")
    }

    /// The query in PostgreSQL's `to_tsquery` syntax: words quoted, a phrase's words joined by
    /// `<->`, `:*` after a prefix, terms joined by `&`.
    pub fn tsquery(&self) -> String {
        let terms: Vec<String> = self
            .terms
            .iter()
            .map(|t| {
                let last = t.words.len() - 1;
                let words: Vec<String> = t
                    .words
                    .iter()
                    .enumerate()
                    .map(|(i, w)| {
                        let star = if t.prefix && i == last { ":*" } else { "" };
                        format!("'{w}'{star}")
                    })
                    .collect();
                format!("({})", words.join(" <-> "))
            })
            .collect();
        terms.join(" & ")
    }

    /// Whether a word of a text is one the query looks for (any word of any term; a prefix
    /// term's last word as a prefix).
    fn marks(&self, word: &str) -> bool {
        self.terms.iter().any(|t| {
            t.words.iter().enumerate().any(|(i, w)| {
                word == w || (t.prefix && i == t.words.len() - 1 && word.starts_with(w.as_str()))
            })
        })
    }

    /// A snippet of `text` around the first word the query looks for, and the character
    /// ranges of such words within the snippet. A text of at most [`SNIPPET_CHARS`]
    /// characters is its own snippet; a longer one is cut, with `…` where it was.
    pub fn snippet(&self, text: &str) -> (String, Vec<[usize; 2]>) {
        let marked: Vec<Range<usize>> = words(text)
            .into_iter()
            .filter(|w| self.marks(&w.text))
            .map(|w| w.chars)
            .collect();
        let chars: Vec<char> = text.chars().collect();
        if chars.len() <= SNIPPET_CHARS {
            let ranges = marked.iter().map(|r| [r.start, r.end]).collect();
            return (text.to_string(), ranges);
        }
        let first = marked.first().map_or(0, |r| r.start);
        let mut start = first.saturating_sub(SNIPPET_LEAD);
        // The room left once the ellipses are counted.
        let lead = usize::from(start > 0);
        let mut end = (start + SNIPPET_CHARS - lead - 1).min(chars.len());
        if end == chars.len() {
            start = chars.len().saturating_sub(SNIPPET_CHARS - 1);
            end = chars.len();
        }
        let lead = usize::from(start > 0);
        let mut snippet = String::new();
        if lead == 1 {
            snippet.push('…');
        }
        snippet.extend(&chars[start..end]);
        if end < chars.len() {
            snippet.push('…');
        }
        let ranges = marked
            .iter()
            .filter(|r| r.start >= start && r.end <= end)
            .map(|r| [r.start - start + lead, r.end - start + lead])
            .collect();
        (snippet, ranges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(words: &[&str], prefix: bool) -> Term {
        Term {
            words: words.iter().map(|w| w.to_string()).collect(),
            prefix,
        }
    }

    #[test]
    fn words_are_folded_unaccented_and_cjk_characters_stand_alone() {
        assert_eq!(index_text("Déjà VU, ÉCOLE!"), "deja vu ecole");
        assert_eq!(index_text("Straße ｆｏｏ"), "strasse foo");
        assert_eq!(index_text("deploy-script v2.1"), "deploy script v2 1");
        assert_eq!(index_text("東京都に行く"), "東 京 都 に 行 く");
        assert_eq!(index_text("한국어 test"), "한 국 어 test");
        assert_eq!(index_text("привет Мир"), "привет мир");
        // A decomposed accent stays inside its word.
        assert_eq!(index_text("jose\u{301} said"), "jose said");
        assert_eq!(index_text("  \u{1b}[31m!  "), "31m");
        assert_eq!(index_text(&"x".repeat(101)), "");
    }

    #[test]
    fn queries_have_words_phrases_and_a_last_prefix() {
        let q = Query::parse(r#"deploy "the Script" ca"#).expect("valid");
        assert_eq!(
            q.terms,
            [
                term(&["deploy"], false),
                term(&["the", "script"], false),
                term(&["ca"], true)
            ]
        );
        assert_eq!(q.fts5(), r#""deploy" "the script" "ca"*"#);
        assert_eq!(q.tsquery(), "('deploy') & ('the' <-> 'script') & ('ca':*)");
        // A finished last word, a last phrase, a CJK word: no prefix.
        assert!(!Query::parse("deploy ").expect("valid").terms[0].prefix);
        assert!(!Query::parse(r#""deploy""#).expect("valid").terms[0].prefix);
        assert_eq!(
            Query::parse("東京").expect("valid").terms,
            [term(&["東", "京"], false)]
        );
        // foo-bar is a phrase, still a prefix at its end; an unclosed quote runs to the end.
        assert_eq!(
            Query::parse("foo-ba").expect("valid").terms,
            [term(&["foo", "ba"], true)]
        );
        assert_eq!(
            Query::parse(r#"a "b c"#).expect("valid").terms,
            [term(&["a"], false), term(&["b", "c"], false)]
        );
    }

    #[test]
    fn bad_queries_say_why() {
        assert_eq!(Query::parse(" !! \"\" "), Err(QueryError::Empty));
        assert_eq!(
            Query::parse(&"a".repeat(MAX_QUERY_CHARS + 1)),
            Err(QueryError::TooLong)
        );
        let many = vec!["w"; MAX_TERMS + 1].join(" ");
        assert_eq!(Query::parse(&many), Err(QueryError::TooManyTerms));
    }

    #[test]
    fn snippets_mark_matched_words_by_character_and_cut_long_texts() {
        let q = Query::parse("café dep").expect("valid");
        let (snippet, marks) = q.snippet("Le CAFÉ: deploys at 9, café again");
        assert_eq!(snippet, "Le CAFÉ: deploys at 9, café again");
        let marked: Vec<String> = marks
            .iter()
            .map(|[s, e]| snippet.chars().skip(*s).take(e - s).collect())
            .collect();
        assert_eq!(marked, ["CAFÉ", "deploys", "café"]);

        let long = format!("{} the needle {}", "hay ".repeat(100), "straw ".repeat(100));
        let q = Query::parse("needle").expect("valid");
        let (snippet, marks) = q.snippet(&long);
        assert_eq!(snippet.chars().count(), SNIPPET_CHARS);
        assert!(snippet.starts_with('…') && snippet.ends_with('…'));
        assert_eq!(marks.len(), 1);
        let [s, e] = marks[0];
        let marked: String = snippet.chars().skip(s).take(e - s).collect();
        assert_eq!(marked, "needle");
        // A match near the end: the snippet ends with the text.
        let tail = format!("{} needle", "hay ".repeat(100));
        let (snippet, marks) = q.snippet(&tail);
        assert!(snippet.starts_with('…') && snippet.ends_with("needle"));
        assert_eq!(snippet.chars().count(), SNIPPET_CHARS);
        assert_eq!(marks, [[SNIPPET_CHARS - 6, SNIPPET_CHARS]]);
    }
}
