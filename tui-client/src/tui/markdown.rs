//! The Markdown a message may use, read into blocks the thread lays out: paragraphs with
//! **bold**, *italic*, `inline code` and links (`[text](url)`, bare `http(s)://…`), `> quotes`
//! and fenced code blocks. pulldown-cmark reads it; whatever it finds outside that subset
//! (headings, lists, rules, HTML, images, indented code) is given back as the text it was
//! written as, and so are the line breaks and blank lines of the message: chat text is not a
//! document, and a `1.` or `#` someone types should stay what they typed.
//!
//! No text here is sanitized yet: the layout (`lines`) runs every piece through `display`,
//! after this parse (an entity such as `&#27;` only becomes a control character here).

use std::ops::Range;

use pulldown_cmark::{CodeBlockKind, Event, LinkType, Options, Parser, Tag, TagEnd};
use ratatui::style::{Color, Modifier, Style};

/// One block of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// Lines of text (a `\n` in a run breaks the line), to be wrapped.
    Text(Vec<Run>),
    /// `> …`: blocks shown behind a bar.
    Quote(Vec<Block>),
    /// A fenced code block: its language (the info string's first word, maybe empty) and its
    /// lines, kept as written.
    Code { lang: String, code: String },
    /// An empty line between blocks.
    Blank,
}

/// A piece of text in one style.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub text: String,
    pub style: Style,
    /// Inline code: never broken at its spaces, never searched for mentions or links.
    pub code: bool,
    /// The web address it links to.
    pub url: Option<String>,
}

impl Run {
    fn plain(text: impl Into<String>) -> Self {
        Run {
            text: text.into(),
            style: Style::default(),
            code: false,
            url: None,
        }
    }
}

/// A link of a message: what it shows and where it goes (always `http://` or `https://`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub text: String,
    pub url: String,
}

/// How inline code stands out: its own colour on a dark grey, like a key cap.
pub fn code_style() -> Style {
    Style::default()
        .fg(Color::LightYellow)
        .bg(Color::Indexed(236))
}

fn link_style() -> Style {
    Style::default()
        .fg(Color::LightBlue)
        .add_modifier(Modifier::UNDERLINED)
}

/// `content` read into blocks.
pub fn parse(content: &str) -> Vec<Block> {
    let mut reader = Reader {
        source: content,
        containers: vec![Container::default()],
        runs: Vec::new(),
        bold: 0,
        italic: 0,
        url: None,
        code: None,
        skip: 0,
        indent_from: None,
    };
    for (event, range) in Parser::new_ext(content, Options::empty()).into_offset_iter() {
        reader.event(event, range);
    }
    let mut top = reader.containers.pop().unwrap_or_default();
    // Text after the last block that Markdown reads as nothing (a link definition).
    top.gap(content, content.len(), true);
    top.blocks
}

/// The links of `content`, in order, each address once.
pub fn links(content: &str) -> Vec<Link> {
    let mut found: Vec<Link> = Vec::new();
    collect_links(&parse(content), &mut found);
    found
}

fn collect_links(blocks: &[Block], found: &mut Vec<Link>) {
    for block in blocks {
        match block {
            Block::Text(runs) => {
                // A link's text may come in several runs (`[a **b**](…)`): the runs after the
                // first go on its text, if it was new.
                let mut previous: Option<&str> = None;
                let mut new = false;
                for run in runs {
                    let url = run.url.as_deref();
                    if let Some(url) = url {
                        if previous == Some(url) {
                            if let Some(last) = found.last_mut().filter(|_| new) {
                                last.text.push_str(&run.text);
                            }
                        } else {
                            new = !found.iter().any(|l| l.url == url);
                            if new {
                                found.push(Link {
                                    text: run.text.clone(),
                                    url: url.to_owned(),
                                });
                            }
                        }
                    }
                    previous = url;
                }
            }
            Block::Quote(inner) => collect_links(inner, found),
            Block::Code { .. } | Block::Blank => {}
        }
    }
}

/// The blocks of one level: the message, or a quote.
#[derive(Debug, Default)]
struct Container {
    blocks: Vec<Block>,
    /// Where the last block ended in the source, to see what lies between blocks.
    end: Option<usize>,
}

impl Container {
    /// Keeps what stands between the last block and one starting at `start`: its blank lines
    /// and, at the top level, any text Markdown took as nothing.
    fn gap(&mut self, source: &str, start: usize, top: bool) {
        let from = self.end.unwrap_or(0);
        let gap = source.get(from..start).unwrap_or_default();
        let text = gap.trim();
        if top && !text.is_empty() {
            self.blocks.push(Block::Text(vec![Run::plain(text)]));
            return;
        }
        let Some(end) = self.end else {
            return;
        };
        // The lines strictly between the last block's last character and this one's first.
        let line_of = |at: usize| source.get(..at).map_or(0, |s| s.matches('\n').count());
        let blank = line_of(start).saturating_sub(line_of(end.saturating_sub(1)) + 1);
        self.blocks.extend(std::iter::repeat_n(Block::Blank, blank));
    }
}

struct Reader<'a> {
    source: &'a str,
    /// The message, then each open quote.
    containers: Vec<Container>,
    /// The paragraph being read.
    runs: Vec<Run>,
    bold: usize,
    italic: usize,
    url: Option<String>,
    /// The fenced code block being read: its language and text.
    code: Option<(String, String)>,
    /// Inside something shown as written: how deep.
    skip: usize,
    /// After a line break: where the next line starts in the source, to give back the
    /// indentation Markdown drops from a paragraph's later lines.
    indent_from: Option<usize>,
}

impl Reader<'_> {
    fn event(&mut self, event: Event, range: Range<usize>) {
        if self.skip > 0 {
            match event {
                Event::Start(_) => self.skip += 1,
                Event::End(_) => self.skip -= 1,
                _ => {}
            }
            return;
        }
        match event {
            Event::Start(Tag::Paragraph) => self.start_block(range.start),
            Event::End(TagEnd::Paragraph) => {
                let runs = finish_runs(std::mem::take(&mut self.runs));
                self.end_block(Block::Text(runs), range.end);
            }
            Event::Start(Tag::BlockQuote(_)) => {
                self.start_block(range.start);
                self.containers.push(Container::default());
            }
            Event::End(TagEnd::BlockQuote(_)) => {
                let quote = self.containers.pop().unwrap_or_default();
                self.end_block(Block::Quote(quote.blocks), range.end);
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                self.start_block(range.start);
                let lang = info.split_whitespace().next().unwrap_or_default();
                self.code = Some((lang.to_owned(), String::new()));
            }
            Event::End(TagEnd::CodeBlock) => {
                let (lang, mut code) = self.code.take().unwrap_or_default();
                if code.ends_with('\n') {
                    code.pop();
                }
                self.end_block(Block::Code { lang, code }, range.end);
            }
            Event::Text(text) if self.code.is_some() => {
                if let Some((_, code)) = &mut self.code {
                    code.push_str(&text);
                }
            }
            Event::Text(text) => self.push(&range, text.as_ref(), false),
            Event::Code(text) => self.push(&range, text.as_ref(), true),
            Event::InlineHtml(text) => self.push(&range, text.as_ref(), false),
            Event::SoftBreak | Event::HardBreak => {
                self.push(&range, "\n", false);
                self.indent_from = Some(range.end);
            }
            Event::Start(Tag::Strong) => self.bold += 1,
            Event::End(TagEnd::Strong) => self.bold = self.bold.saturating_sub(1),
            Event::Start(Tag::Emphasis) => self.italic += 1,
            Event::End(TagEnd::Emphasis) => self.italic = self.italic.saturating_sub(1),
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                ..
            }) if is_web(&dest_url) && link_type != LinkType::Email => {
                self.url = Some(dest_url.into_string());
            }
            Event::End(TagEnd::Link) => self.url = None,
            // Any other inline element (an image, a link elsewhere than the web): as written.
            Event::Start(Tag::Link { .. } | Tag::Image { .. }) => {
                let written = self.written(&range);
                self.push(&range, &written, false);
                self.skip = 1;
            }
            // Any other block (a heading, a list, HTML, indented code): as written.
            Event::Start(_) => {
                self.start_block(range.start);
                self.skip = 1;
                self.end_written(range);
            }
            Event::Rule | Event::Html(_) => {
                self.start_block(range.start);
                self.end_written(range);
            }
            _ => {}
        }
    }

    fn container(&mut self) -> &mut Container {
        if self.containers.is_empty() {
            self.containers.push(Container::default());
        }
        let last = self.containers.len() - 1;
        &mut self.containers[last]
    }

    fn start_block(&mut self, start: usize) {
        let top = self.containers.len() == 1;
        let source = self.source;
        self.container().gap(source, start, top);
    }

    fn end_block(&mut self, block: Block, end: usize) {
        // A block's range may take in the blank lines after it (a list's does).
        let end = self.source.get(..end).map_or(end, |s| s.trim_end().len());
        let container = self.container();
        container.blocks.push(block);
        container.end = Some(end);
    }

    /// Ends a block shown as it was written.
    fn end_written(&mut self, range: Range<usize>) {
        let text = self.written(&range);
        let text = text.trim_end_matches(['\n', '\r']);
        self.end_block(Block::Text(vec![Run::plain(text)]), range.end);
    }

    /// The source of `range`, without the quote marks of the lines after its first.
    fn written(&self, range: &Range<usize>) -> String {
        let text = self.source.get(range.clone()).unwrap_or_default();
        let depth = self.containers.len() - 1;
        let mut lines = text.split('\n');
        let mut out = lines.next().unwrap_or_default().to_owned();
        for line in lines {
            out.push('\n');
            out.push_str(strip_quote_marks(line, depth));
        }
        out
    }

    /// Adds text in the current style (code in code's).
    fn push(&mut self, range: &Range<usize>, text: &str, code: bool) {
        if let Some(from) = self.indent_from.take() {
            let indent = self.source.get(from..range.start).unwrap_or_default();
            let depth = self.containers.len() - 1;
            let indent = strip_quote_marks(indent, depth);
            if !indent.is_empty() && indent.chars().all(|c| c == ' ' || c == '\t') {
                self.runs.push(Run::plain(indent));
            }
        }
        let mut style = if code { code_style() } else { Style::default() };
        if self.bold > 0 {
            style = style.add_modifier(Modifier::BOLD);
        }
        if self.italic > 0 {
            style = style.add_modifier(Modifier::ITALIC);
        }
        if self.url.is_some() {
            style = style.patch(link_style());
        }
        self.runs.push(Run {
            text: text.to_owned(),
            style,
            code,
            url: self.url.clone(),
        });
    }
}

/// `line` without the `>` marks (and the space after each) of `depth` quotes.
fn strip_quote_marks(line: &str, depth: usize) -> &str {
    let mut rest = line;
    for _ in 0..depth {
        let trimmed = rest.trim_start_matches(' ');
        match trimmed.strip_prefix('>') {
            Some(after) => rest = after.strip_prefix(' ').unwrap_or(after),
            None => break,
        }
    }
    rest
}

/// The only links that count: a browser opens them, and nothing else on the desktop.
const SCHEMES: [&str; 2] = ["http://", "https://"];

/// An `http://` or `https://` address with something after the scheme and nothing that
/// could upset a terminal or an opener (control characters, spaces).
fn is_web(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let scheme = SCHEMES
        .iter()
        .any(|scheme| lower.starts_with(scheme) && lower.len() > scheme.len());
    scheme && !url.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// Runs joined where they share a style, bare web addresses made links.
fn finish_runs(runs: Vec<Run>) -> Vec<Run> {
    let mut joined: Vec<Run> = Vec::new();
    for run in runs {
        match joined.last_mut() {
            Some(last)
                if last.style == run.style && last.code == run.code && last.url == run.url =>
            {
                last.text.push_str(&run.text)
            }
            _ => joined.push(run),
        }
    }
    let mut out = Vec::new();
    for run in joined {
        if run.code || run.url.is_some() {
            out.push(run);
            continue;
        }
        let mut rest = run.text.as_str();
        while let Some(at) = bare_url(rest) {
            if at.start > 0 {
                out.push(Run {
                    text: rest[..at.start].to_owned(),
                    ..run.clone()
                });
            }
            let url = &rest[at.clone()];
            out.push(Run {
                text: url.to_owned(),
                style: run.style.patch(link_style()),
                code: false,
                url: Some(url.to_owned()),
            });
            rest = &rest[at.end..];
        }
        if !rest.is_empty() {
            out.push(Run {
                text: rest.to_owned(),
                ..run
            });
        }
    }
    out
}

/// Where the first bare `http://` or `https://` address in `text` is: from the scheme (at the
/// start of a word) to the next space, less the punctuation that ends a sentence and a `)`
/// it does not open.
fn bare_url(text: &str) -> Option<Range<usize>> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("http") {
        let start = from + found;
        from = start + 4;
        let word_start = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let scheme = SCHEMES.iter().any(|s| lower[start..].starts_with(s));
        if !word_start || !scheme {
            continue;
        }
        let len = text[start..]
            .find(|c: char| {
                c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | '`')
            })
            .unwrap_or(text.len() - start);
        let mut url = &text[start..start + len];
        loop {
            let trimmed = url.trim_end_matches(['.', ',', ':', ';', '!', '?', '\'', '*', '_']);
            let trimmed = match trimmed.strip_suffix(')') {
                Some(inner) if inner.matches('(').count() < inner.matches(')').count() + 1 => inner,
                _ => trimmed,
            };
            if trimmed == url {
                break;
            }
            url = trimmed;
        }
        if is_web(url) {
            return Some(start..start + url.len());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(blocks: &[Block]) -> Vec<String> {
        blocks
            .iter()
            .map(|b| match b {
                Block::Text(runs) => runs.iter().map(|r| r.text.as_str()).collect(),
                Block::Quote(inner) => format!("> {:?}", texts(inner)),
                Block::Code { lang, code } => format!("```{lang}\n{code}```"),
                Block::Blank => String::new(),
            })
            .collect()
    }

    #[test]
    fn the_subset_is_read() {
        let blocks = parse("say **hi** to *you* with `x y`");
        let Block::Text(runs) = &blocks[0] else {
            panic!("{blocks:?}")
        };
        let styled: Vec<(&str, bool)> = runs.iter().map(|r| (r.text.as_str(), r.code)).collect();
        assert_eq!(
            styled,
            [
                ("say ", false),
                ("hi", false),
                (" to ", false),
                ("you", false),
                (" with ", false),
                ("x y", true)
            ]
        );
        assert!(runs[1].style.add_modifier.contains(Modifier::BOLD));
        assert!(runs[3].style.add_modifier.contains(Modifier::ITALIC));
        assert_eq!(runs[5].style, code_style());
    }

    #[test]
    fn what_lies_outside_the_subset_stays_as_written() {
        let text = "# heading\n1. list\n2. more\n\n- a **b**\n\n---\n<b>x</b> ![i](http://a/i.png)";
        assert_eq!(
            texts(&parse(text)),
            [
                "# heading",
                "1. list\n2. more",
                "",
                "- a **b**",
                "",
                "---",
                "<b>x</b> ![i](http://a/i.png)"
            ]
        );
        assert_eq!(
            texts(&parse("setext\n---\n[a]: http://x.example")),
            ["setext\n---", "[a]: http://x.example"]
        );
    }

    #[test]
    fn line_breaks_blank_lines_and_indentation_are_kept() {
        assert_eq!(
            texts(&parse("one\ntwo\n\n\nthree\n    four")),
            ["one\ntwo", "", "", "three\n    four"]
        );
    }

    #[test]
    fn fenced_code_keeps_its_lines_and_language() {
        let blocks = parse("look:\n```rust title\nfn main() {\n    *x*\n}\n```\nok");
        assert_eq!(
            blocks[1],
            Block::Code {
                lang: "rust".into(),
                code: "fn main() {\n    *x*\n}".into()
            }
        );
        assert_eq!(
            texts(&blocks),
            ["look:", "```rust\nfn main() {\n    *x*\n}```", "ok"]
        );
    }

    #[test]
    fn quotes_hold_blocks() {
        let blocks = parse("> quoted **bold**\n> # kept\n\nafter");
        assert_eq!(
            texts(&blocks),
            [r##"> ["quoted bold", "# kept"]"##, "", "after"]
        );
    }

    #[test]
    fn links_are_web_addresses_only() {
        let text = "see [the docs](https://docs.example/x) and https://a.example/p_(q). \
                    not [this](file:///etc/passwd), nor javascript:x, nor <me@x.example>; \
                    again https://a.example/p_(q)";
        assert_eq!(
            links(text),
            [
                Link {
                    text: "the docs".into(),
                    url: "https://docs.example/x".into()
                },
                Link {
                    text: "https://a.example/p_(q)".into(),
                    url: "https://a.example/p_(q)".into()
                },
            ]
        );
        let blocks = parse(text);
        let shown = texts(&blocks).join("");
        assert!(shown.contains("[this](file:///etc/passwd)"), "{shown}");
        assert!(shown.contains("<me@x.example>"), "{shown}");
        assert!(links("`https://in.code`\n```\nhttps://x\n```").is_empty());
        assert_eq!(links("(https://x.example/a)")[0].url, "https://x.example/a");
        assert_eq!(links("**https://x.example**")[0].url, "https://x.example");
    }
}
