//! Where `chat send` finds its text: the arguments, standard input, or a file; read with a
//! bound, so a runaway pipe cannot fill memory before the server's limit is even checked.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// The most bytes read from standard input or a file: far above any server's message limit
/// (4000 characters by default), so only a mistake reaches it.
pub const MAX_INPUT_BYTES: u64 = 1 << 20;

/// Where the text comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The words given, joined with spaces.
    Words(Vec<String>),
    /// Standard input, to its end.
    Stdin,
    /// A file, whole.
    File(PathBuf),
}

impl Source {
    /// The source the arguments name: `--file`, else `-` or no words (when standard input is
    /// not a terminal), else the words.
    pub fn pick(
        words: Vec<String>,
        file: Option<PathBuf>,
        stdin_is_terminal: bool,
    ) -> anyhow::Result<Source> {
        match (file, words.as_slice()) {
            (Some(path), []) => Ok(Source::File(path)),
            (Some(_), _) => bail!("give the text as arguments or with --file, not both"),
            (None, [dash]) if dash == "-" => Ok(Source::Stdin),
            (None, []) if stdin_is_terminal => bail!(
                "no text: give it as arguments, or `-` to read standard input, or --file PATH"
            ),
            (None, []) => Ok(Source::Stdin),
            (None, _) => Ok(Source::Words(words)),
        }
    }

    /// [`Source::pick`] with this process's standard input.
    pub fn from_args(words: Vec<String>, file: Option<PathBuf>) -> anyhow::Result<Source> {
        Source::pick(words, file, std::io::stdin().is_terminal())
    }

    /// The text, with one final line break taken off what was read (as `$(…)` does in a shell,
    /// so `echo hi | chat send …` sends `hi`).
    pub fn read(self) -> anyhow::Result<String> {
        match self {
            Source::Words(words) => Ok(words.join(" ")),
            Source::Stdin => read_bounded(std::io::stdin().lock(), "standard input"),
            Source::File(path) => read_file(&path),
        }
    }
}

fn read_file(path: &Path) -> anyhow::Result<String> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    read_bounded(file, &path.display().to_string())
}

/// Reads `from` to its end, refusing more than [`MAX_INPUT_BYTES`] or text that is not UTF-8.
fn read_bounded(from: impl Read, name: &str) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    from.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {name}"))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        bail!("{name} is longer than {MAX_INPUT_BYTES} bytes: too long for a message");
    }
    let mut text = String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{name} is not UTF-8"))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// Refuses `text` when it is longer than the server's `max_chars` (as `chat.welcome` told it),
/// counted in characters as the server counts them.
pub fn within_limit(text: &str, max_chars: i64) -> anyhow::Result<()> {
    let chars = text.chars().count();
    if i64::try_from(chars).unwrap_or(i64::MAX) > max_chars {
        bail!(
            "the message is {chars} characters long; the server accepts at most {max_chars} \
             (nothing was sent)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_source_is_the_file_then_a_dash_or_nothing_from_a_pipe_then_the_words() {
        let file = Some(PathBuf::from("m.txt"));
        assert_eq!(
            Source::pick(vec![], file.clone(), true).expect("file"),
            Source::File("m.txt".into())
        );
        assert!(Source::pick(words(&["hi"]), file, false).is_err());
        assert_eq!(
            Source::pick(words(&["-"]), None, true).expect("dash"),
            Source::Stdin
        );
        assert_eq!(
            Source::pick(vec![], None, false).expect("pipe"),
            Source::Stdin
        );
        let error = Source::pick(vec![], None, true).expect_err("terminal");
        assert!(error.to_string().starts_with("no text"), "{error}");
        // A dash among other words is text.
        assert_eq!(
            Source::pick(words(&["a", "-", "b"]), None, false).expect("words"),
            Source::Words(words(&["a", "-", "b"]))
        );
    }

    #[test]
    fn reading_drops_one_final_line_break_and_refuses_too_much_or_not_utf8() {
        let read = |bytes: &[u8]| read_bounded(bytes, "input");
        assert_eq!(read(b"hi\n").expect("lf"), "hi");
        assert_eq!(read(b"hi\r\n").expect("crlf"), "hi");
        assert_eq!(read(b"a\nb\n\n").expect("one only"), "a\nb\n");
        assert_eq!(read(b"  x  ").expect("spaces kept"), "  x  ");
        let big = vec![b'x'; MAX_INPUT_BYTES as usize + 1];
        let error = read(&big).expect_err("too long");
        assert!(error.to_string().contains("longer than"), "{error}");
        assert!(read(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn the_limit_counts_characters_not_bytes() {
        assert!(within_limit("ééé", 3).is_ok());
        let error = within_limit("éééé", 3).expect_err("over");
        assert_eq!(
            error.to_string(),
            "the message is 4 characters long; the server accepts at most 3 (nothing was sent)"
        );
    }
}
