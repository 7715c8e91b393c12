//! `@username` mentions: which names a message's text may mention. The server matches them
//! against the conversation's members (case-insensitively, as usernames are unique); clients use
//! the same reading to highlight what the server found.

/// Most names one message is read for (a message of nothing but `@`s costs no more).
pub const MAX_CANDIDATES: usize = 32;

/// Whether `c` may appear in a username (letters, digits and `@ . + - _`, as registration
/// allows).
pub fn is_username_char(c: char) -> bool {
    c.is_alphanumeric() || "@.+-_".contains(c)
}

/// The lower-cased names `@` tokens in `content` may stand for, in order of appearance, without
/// repeats, at most [`MAX_CANDIDATES`]. A token starts with `@` at the start of the text or after
/// a character that cannot be in a username (so `me@example.com` mentions nobody) and runs over
/// username characters; since `.` `-` `+` `@` and `_` may end a sentence as well as a name,
/// `@bob.` stands for `bob.` and for `bob`.
pub fn candidates(content: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut previous: Option<char> = None;
    let mut chars = content.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let starts = c == '@' && !previous.is_some_and(is_username_char);
        previous = Some(c);
        if !starts {
            continue;
        }
        let rest = &content[at + 1..];
        let end = rest
            .char_indices()
            .find(|&(_, c)| !is_username_char(c))
            .map_or(rest.len(), |(i, _)| i);
        let token = &rest[..end];
        let mut name = token;
        while !name.is_empty() {
            let lower = name.to_lowercase();
            if !names.contains(&lower) {
                if names.len() == MAX_CANDIDATES {
                    return names;
                }
                names.push(lower);
            }
            match name.strip_suffix(|c: char| !c.is_alphanumeric()) {
                Some(shorter) => name = shorter,
                None => break,
            }
        }
        // The token is consumed: an `@` inside it does not start another.
        while chars.peek().is_some_and(|&(i, _)| i <= at + end) {
            previous = chars.next().map(|(_, c)| c);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_start_at_an_at_sign_after_a_boundary() {
        assert_eq!(candidates("hi @Bob, and @carol"), ["bob", "carol"]);
        assert_eq!(candidates("@alice"), ["alice"]);
        assert!(candidates("mail me@example.com").is_empty());
        assert!(candidates("no mentions @ all").is_empty());
    }

    #[test]
    fn trailing_punctuation_may_end_the_sentence_or_the_name() {
        assert_eq!(candidates("thanks @bob."), ["bob.", "bob"]);
        assert_eq!(candidates("@a.b-"), ["a.b-", "a.b"]);
        // An `@` inside a token belongs to the name.
        assert_eq!(candidates("@x@y"), ["x@y"]);
    }

    #[test]
    fn names_are_lower_cased_without_repeats_and_bounded() {
        assert_eq!(candidates("@Bob @bob @BOB"), ["bob"]);
        let many: String = (0..100).map(|i| format!("@u{i} ")).collect();
        assert_eq!(candidates(&many).len(), MAX_CANDIDATES);
        assert_eq!(candidates("@ÉLODIE"), ["élodie"]);
    }
}
