//! `chat export`: a whole conversation, oldest first, as Markdown (to read, or to attach to a bug
//! report) or as JSON lines (each message object exactly as `chat.messages` carries it). Pages
//! through everything like `chat history --all`, holding at most a page in memory; with `--out`
//! the file appears only once complete.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use chat_shared::{ChatMessage, ConversationListItem, Timestamp};

use super::Context;
use super::chat::Target;
use super::connection::Connection;
use super::history::{each_message, find_conversation};
use super::message::reactions;
use crate::text::sanitize;

/// What `chat export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Markdown: a heading per day, each message with its sender, time, id, reply, edit,
    /// reactions and attachment.
    Md,
    /// One message object a line, as the server sends it.
    Jsonl,
}

/// `chat export --with USER | --group G [--format md|jsonl] [--out FILE]`.
pub async fn export(
    ctx: &Context,
    target: &Target,
    format: Format,
    out: Option<&Path>,
    timeout_ms: u64,
) -> anyhow::Result<()> {
    let mut conn = Connection::open(ctx, Duration::from_millis(timeout_ms)).await?;
    let conversation = find_conversation(&mut conn, target).await?;
    let mut sink = Sink::open(out)?;
    let mut markdown = Markdown::default();
    if format == Format::Md {
        markdown.start(&mut sink, &conversation, &ctx.settings.server)?;
    }
    each_message(&mut conn, conversation.id, None, |message| match format {
        Format::Jsonl => {
            serde_json::to_writer(&mut sink, message)?;
            Ok(sink.write_all(b"\n")?)
        }
        Format::Md => markdown.message(&mut sink, message),
    })
    .await?;
    conn.socket.close().await;
    if format == Format::Md {
        markdown.end(&mut sink)?;
    }
    let written = sink.finish()?;
    if let Some(path) = written {
        eprintln!("exported {} messages to {}", markdown.count, path.display());
    }
    Ok(())
}

/// Where the export goes: standard output, or a file written beside its final path and renamed
/// into place when complete (an export cut short leaves no file that looks whole).
struct Sink {
    writer: BufWriter<Box<dyn Write>>,
    /// (the partial file, the final path) when writing to a file.
    file: Option<(PathBuf, PathBuf)>,
}

impl Sink {
    fn open(out: Option<&Path>) -> anyhow::Result<Sink> {
        let Some(path) = out else {
            return Ok(Sink {
                writer: BufWriter::new(Box::new(std::io::stdout().lock())),
                file: None,
            });
        };
        let name = path
            .file_name()
            .with_context(|| format!("{} names no file", path.display()))?;
        let mut partial_name = name.to_os_string();
        partial_name.push(".partial");
        let partial = path.with_file_name(partial_name);
        let file = File::create(&partial)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        Ok(Sink {
            writer: BufWriter::new(Box::new(file)),
            file: Some((partial, path.to_path_buf())),
        })
    }

    /// Flushes; a file is moved to its final path. Returns that path.
    fn finish(mut self) -> anyhow::Result<Option<PathBuf>> {
        self.writer.flush()?;
        let Some((partial, path)) = self.file.take() else {
            return Ok(None);
        };
        std::fs::rename(&partial, &path)
            .with_context(|| format!("cannot move the export to {}", path.display()))?;
        Ok(Some(path))
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

impl Drop for Sink {
    /// An export that did not finish leaves no partial file behind.
    fn drop(&mut self) {
        if let Some((partial, _)) = &self.file {
            let _ = std::fs::remove_file(partial);
        }
    }
}

/// The Markdown writer's state: the day of the last message (a heading starts each day) and how
/// many were written.
#[derive(Default)]
struct Markdown {
    day: Option<String>,
    count: u64,
}

impl Markdown {
    fn start(
        &mut self,
        out: &mut impl Write,
        conversation: &ConversationListItem,
        server: &str,
    ) -> anyhow::Result<()> {
        let names: Vec<String> = conversation
            .participants
            .iter()
            .map(|p| sanitize(&p.username))
            .collect();
        match conversation.info.title() {
            Some(title) => writeln!(out, "# {} (group #{})", sanitize(title), conversation.id)?,
            None => writeln!(
                out,
                "# Conversation #{} ({})",
                conversation.id,
                names.join(" and ")
            )?,
        }
        writeln!(out)?;
        writeln!(out, "- Members: {}", names.join(", "))?;
        writeln!(out, "- Server: {}", sanitize(server))?;
        writeln!(
            out,
            "- Exported: {} (times are UTC)",
            Timestamp::now().to_datetime().format("%Y-%m-%d %H:%M:%S")
        )?;
        Ok(())
    }

    fn message(&mut self, out: &mut impl Write, message: &ChatMessage) -> anyhow::Result<()> {
        let at = message.timestamp.to_datetime();
        let day = at.format("%Y-%m-%d").to_string();
        if self.day.as_ref() != Some(&day) {
            writeln!(out, "\n## {day}")?;
            self.day = Some(day);
        }
        self.count += 1;
        let time = at.format("%H:%M:%S");
        if message.is_system {
            writeln!(
                out,
                "\n*{time} · #{} · {}*",
                message.id,
                sanitize(&message.content)
            )?;
            return Ok(());
        }
        let mut head = format!(
            "\n**{}** · {time} · #{}",
            sanitize(&message.sender.username),
            message.id
        );
        if let Some(edited) = message.edited() {
            head += &format!(" · edited {}", edited.to_datetime().format("%H:%M:%S"));
        }
        writeln!(out, "{head}")?;
        if let Some(reply) = message.reply() {
            let excerpt = if reply.deleted {
                "(deleted)".to_string()
            } else {
                format!("“{}”", sanitize(&reply.excerpt).replace('\n', " "))
            };
            writeln!(
                out,
                "↪ reply to #{} by {}: {excerpt}",
                reply.id,
                sanitize(&reply.sender.username)
            )?;
        }
        writeln!(out)?;
        if message.is_deleted() {
            writeln!(out, "> *(message deleted)*")?;
        } else {
            // Quoted, so that no content can pass for a heading or another message.
            for line in sanitize(&message.content).lines() {
                writeln!(out, "> {line}")?;
            }
        }
        if let Some(attachment) = attachment(message) {
            writeln!(out, ">\n> 📎 {attachment}")?;
        }
        if let Some(each) = reactions(message) {
            writeln!(out, "\nReactions: {each}")?;
        }
        Ok(())
    }

    fn end(&mut self, out: &mut impl Write) -> anyhow::Result<()> {
        let plural = if self.count == 1 { "" } else { "s" };
        writeln!(out, "\n---\n{} message{plural}.", self.count)?;
        Ok(())
    }
}

/// A message's attachment as a Markdown link: `[name](url)` when the server names it, else the
/// URL (the protocol's `attachment` is a URL string).
fn attachment(message: &ChatMessage) -> Option<String> {
    match message.attachment.as_ref()? {
        serde_json::Value::Null => None,
        serde_json::Value::String(url) => Some(format!("<{}>", sanitize(url))),
        serde_json::Value::Object(fields) => {
            let url = fields.get("url").and_then(|u| u.as_str()).unwrap_or("");
            let name = fields
                .get("name")
                .and_then(|n| n.as_str())
                .unwrap_or("attachment");
            Some(format!("[{}]({})", sanitize(name), sanitize(url)))
        }
        other => Some(sanitize(&other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use chat_shared::{Reaction, ReplyRef};

    use super::*;
    use crate::cli::fixtures::by;

    fn written(messages: &[ChatMessage]) -> String {
        let mut markdown = Markdown::default();
        let mut out = Vec::new();
        for message in messages {
            markdown.message(&mut out, message).expect("written");
        }
        markdown.end(&mut out).expect("written");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn markdown_quotes_content_shows_replies_edits_reactions_and_a_heading_per_day() {
        // 2026-12-07 23:59:00 and 2026-12-08 00:01:00 UTC.
        let first = ChatMessage::new(
            1,
            5,
            by(1, "alice"),
            "# not a heading\nsecond line".into(),
            Timestamp(1_796_687_940_000),
        );
        let mut second = ChatMessage::new(
            2,
            5,
            by(2, "bob"),
            "answer".into(),
            Timestamp(1_796_688_060_000),
        );
        second.reply_to = Some(Some(Box::new(ReplyRef {
            id: 1,
            sender: by(1, "alice"),
            excerpt: "# not a heading".into(),
            deleted: false,
        })));
        second.edited_at = Some(Some(Timestamp(1_796_688_120_000)));
        second.reactions = Some(vec![Reaction {
            emoji: "👍".into(),
            count: 2,
            user_ids: vec![1, 2],
        }]);
        second.attachment = Some(serde_json::json!("https://chat.example/a/9"));
        let text = written(&[first, second]);
        assert_eq!(
            text,
            "\n## 2026-12-07\n\n**alice** · 23:59:00 · #1\n\n> # not a heading\n> second line\n\
             \n## 2026-12-08\n\n**bob** · 00:01:00 · #2 · edited 00:02:00\n\
             ↪ reply to #1 by alice: “# not a heading”\n\n> answer\n>\n> 📎 <https://chat.example/a/9>\n\
             \nReactions: 👍 2\n\n---\n2 messages.\n"
        );
    }

    #[test]
    fn markdown_neutralises_escapes_and_marks_deleted_and_system_messages() {
        let mut deleted =
            ChatMessage::new(3, 5, by(1, "al\u{1b}[31mice"), String::new(), Timestamp(0));
        deleted.deleted = Some(true);
        let mut system = ChatMessage::new(4, 5, by(1, "alice"), "bob left".into(), Timestamp(0));
        system.is_system = true;
        let text = written(&[deleted, system]);
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert!(text.contains("**al\u{FFFD}[31mice** · 00:00:00 · #3\n\n> *(message deleted)*"));
        assert!(text.contains("\n*00:00:00 · #4 · bob left*\n"));
    }
}
