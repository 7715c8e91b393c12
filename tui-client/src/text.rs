//! Text from other people made safe to print on a terminal: the one sanitizer that both the
//! terminal UI and the command line's text output use, so a message or a username can never
//! move the cursor, retitle the window, clear the screen or ring the bell.

/// Replaces control characters (C0, DEL and C1: the ESC or CSI that would start an escape
/// sequence, a bare `\r`, BEL…) and bidirectional controls with U+FFFD and expands tabs to four
/// spaces; newlines stay.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push_str("    "),
            '\n' => out.push('\n'),
            c if c.is_control() || is_bidi_control(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The characters of Unicode's `Bidi_Control` property: embeddings, overrides, isolates and
/// marks. A terminal that reorders text by them would show a name or message in another order
/// than it was written (the "Trojan Source" trick: U+202E before `gnp.exe` shows it as `exe.png`).
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(sanitize("a\x1b[2Jb\tc"), "a\u{FFFD}[2Jb    c");
        // OSC title change ended by BEL, a bare carriage return, DEL, and C1 CSI / OSC / ST.
        assert_eq!(
            sanitize("\x1b]0;owned\x07x\ry\x7f\u{9b}2J\u{9d}t\u{9c}"),
            "\u{FFFD}]0;owned\u{FFFD}x\u{FFFD}y\u{FFFD}\u{FFFD}2J\u{FFFD}t\u{FFFD}"
        );
        assert_eq!(sanitize("two\nlines, café 😀"), "two\nlines, café 😀");
    }

    #[test]
    fn bidirectional_controls_cannot_reorder_what_is_shown() {
        // Right-to-left override, isolates, embeddings and marks; Arabic and Hebrew text stays.
        assert_eq!(sanitize("a\u{202E}gnp.exe"), "a\u{FFFD}gnp.exe");
        assert_eq!(
            sanitize("\u{2066}x\u{2069}\u{202A}y\u{202C}\u{200F}z\u{061C}"),
            "\u{FFFD}x\u{FFFD}\u{FFFD}y\u{FFFD}\u{FFFD}z\u{FFFD}"
        );
        assert_eq!(sanitize("שלום مرحبا"), "שלום مرحبا");
    }
}
