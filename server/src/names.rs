//! Usernames: which ones may be registered, and the keys that tell whether one is taken.
//!
//! A name is shown as it was registered and compared by two keys, both from the unicode-rs
//! crates' data (no tables here):
//! - the *fold*: NFKC with full case folding (Unicode's compatibility caseless match, D146), so
//!   `ALICE`, `ａｌｉｃｅ` and `alice` are one name. Login looks names up by it.
//! - the *skeleton*: the UTS #39 confusable skeleton of the NFKC form, folded, so `аlice`
//!   (Cyrillic а) and `aIice` (capital I) look like `alice`. It is taken before folding, because
//!   folding first would turn the capital I (confusable with `l`) into an `i` (which is not).
//!
//! A new name is taken when either key equals an existing account's.

use caseless::Caseless;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use unicode_script::{Script, UnicodeScript};
use unicode_security::MixedScript;

/// Longest username, in characters.
pub const MAX_CHARS: usize = 150;

/// The punctuation a name may hold besides letters, digits and marks.
const PUNCTUATION: &str = "@.+-_";

/// Most combining marks in a row (after canonical decomposition), as UTS #39 §5.4 suggests:
/// enough for any script's writing, too few to stack marks over other text.
const MAX_MARKS_IN_A_ROW: usize = 4;

/// The keys a name is compared by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameKeys {
    /// NFKC with full case folding: the name itself, in any letter case or width.
    pub fold: String,
    /// The folded confusable skeleton: names that look alike.
    pub skeleton: String,
}

impl NameKeys {
    /// The keys of `name`.
    pub fn of(name: &str) -> NameKeys {
        let nfkc: String = name.nfkc().collect();
        let skeleton: String = unicode_security::skeleton(&nfkc).collect();
        NameKeys {
            fold: fold(name),
            skeleton: fold(&skeleton),
        }
    }
}

/// `name` in NFKC with full case folding: NFKC(toCasefold(NFKD(toCasefold(NFD(name))))), which
/// two names share exactly when they match caselessly by compatibility (Unicode D146).
pub fn fold(name: &str) -> String {
    name.chars()
        .nfd()
        .default_case_fold()
        .nfkd()
        .default_case_fold()
        .nfkc()
        .collect()
}

/// Why a name cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameRefusal {
    #[error("Username must be 1 to {MAX_CHARS} characters.")]
    Length,
    #[error("Username may contain only letters, digits, combining marks and @ . + - _")]
    Characters,
    #[error(
        "Username may not start with a combining mark or stack more than \
         {MAX_MARKS_IN_A_ROW} of them."
    )]
    Marks,
    /// The scripts the name mixes, in the order they appear.
    #[error(
        "Username mixes scripts ({}): use the letters of one script (digits and @ . + - _ go \
         with any).", .0.join(", ")
    )]
    MixedScripts(Vec<&'static str>),
}

/// Whether `name` may be registered: 1 to [`MAX_CHARS`] letters, digits and combining marks of
/// any script (Unicode's Alphabetic, Numeric and Mark) and `@ . + - _`, in one script (Han
/// with Hiragana and Katakana, or with Hangul, counts as one: UTS #39's augmented script sets).
pub fn check(name: &str) -> Result<(), NameRefusal> {
    let len = name.chars().count();
    if len == 0 || len > MAX_CHARS {
        return Err(NameRefusal::Length);
    }
    let allowed = |c: char| c.is_alphanumeric() || is_combining_mark(c) || PUNCTUATION.contains(c);
    if !name.chars().all(allowed) {
        return Err(NameRefusal::Characters);
    }
    if name.chars().next().is_some_and(is_combining_mark) || too_many_marks(name) {
        return Err(NameRefusal::Marks);
    }
    if !name.is_single_script() {
        return Err(NameRefusal::MixedScripts(scripts(name)));
    }
    Ok(())
}

/// Whether `name`, decomposed, has more than [`MAX_MARKS_IN_A_ROW`] combining marks in a row.
fn too_many_marks(name: &str) -> bool {
    let mut run = 0;
    name.nfd().any(|c| {
        run = if is_combining_mark(c) { run + 1 } else { 0 };
        run > MAX_MARKS_IN_A_ROW
    })
}

/// The scripts of `name`'s letters, in the order they first appear (digits and punctuation
/// belong to every script, and marks to their letter's).
fn scripts(name: &str) -> Vec<&'static str> {
    let mut found: Vec<&'static str> = Vec::new();
    for script in name.chars().map(|c| c.script()) {
        if matches!(script, Script::Common | Script::Inherited | Script::Unknown) {
            continue;
        }
        if !found.contains(&script.full_name()) {
            found.push(script.full_name());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_fold(a: &str, b: &str) -> bool {
        NameKeys::of(a).fold == NameKeys::of(b).fold
    }

    fn same_skeleton(a: &str, b: &str) -> bool {
        NameKeys::of(a).skeleton == NameKeys::of(b).skeleton
    }

    #[test]
    fn case_and_width_fold_to_one_name() {
        assert_eq!(fold("ALICE"), "alice");
        assert_eq!(fold("ａｌｉｃｅ"), "alice");
        assert_eq!(fold("ＡＬＩＣＥ"), "alice");
        // Full folding, not lowercasing: ß is ss, the ligature ﬁ is fi.
        assert_eq!(fold("Straße"), fold("STRASSE"));
        assert_eq!(fold("ﬁona"), "fiona");
        // Composed and decomposed accents are one name.
        assert_eq!(fold("jose\u{301}"), fold("jos\u{e9}"));
        assert_eq!(fold("JOSÉ"), "jos\u{e9}");
        assert!(!same_fold("alice", "alicia"));
    }

    #[test]
    fn the_fold_is_stable() {
        for name in [
            "ALICE",
            "ｆｕｌｌ",
            "Straße",
            "ΣΊΣΥΦΟΣ",
            "İstanbul",
            "jose\u{301}",
            "山田",
        ] {
            let once = fold(name);
            assert_eq!(fold(&once), once, "{name}");
            let keys = NameKeys::of(name);
            assert_eq!(NameKeys::of(&keys.fold).fold, keys.fold, "{name}");
        }
    }

    #[test]
    fn confusables_share_a_skeleton() {
        assert!(same_skeleton("alice", "\u{430}lice"), "Cyrillic а");
        assert!(same_skeleton("alice", "\u{410}lice"), "Cyrillic А");
        assert!(same_skeleton("alice", "ａｌｉｃｅ"), "fullwidth");
        assert!(same_skeleton("alice", "aIice"), "capital I for l");
        assert!(same_skeleton("PayPal", "PayPaI"), "capital I for l");
        assert!(same_skeleton("bob", "b0b"), "zero for o");
        assert!(
            same_skeleton("paypal", "\u{440}\u{430}\u{443}\u{440}\u{430}l"),
            "Cyrillic р а у"
        );
        assert!(same_skeleton("modern", "rnodern"), "rn for m");
        // All Cyrillic (а, palochka, і, с, е), so one script, and just like alice.
        let cyrillic = "\u{430}\u{4cf}\u{456}\u{441}\u{435}";
        assert_eq!(check(cyrillic), Ok(()));
        assert!(same_skeleton("alice", cyrillic));
        assert!(!same_skeleton("alice", "alicia"));
        assert!(!same_skeleton("иван", "ivan"));
    }

    #[test]
    fn case_variants_share_a_fold_but_not_always_a_skeleton() {
        // The capital I is confusable with l, the small i is not: both keys are needed.
        assert!(same_fold("ALICE", "alice"));
        assert!(!same_skeleton("ALICE", "alice"));
    }

    #[test]
    fn names_in_one_script_are_accepted() {
        for name in [
            "alice",
            "иван",
            "山田",
            "やまだ太郎",
            "김철수",
            "josé",
            "jose\u{301}",
            "Ελένη",
            "हिन्दी",
            "ไทย",
            "user_1.name+tag@example-x",
            "42",
            "ａｌｉｃｅ",
        ] {
            assert_eq!(check(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn mixed_scripts_are_refused_with_their_names() {
        let mixed = "\u{440}\u{430}\u{443}\u{440}\u{430}l";
        assert_eq!(
            check(mixed),
            Err(NameRefusal::MixedScripts(vec!["Cyrillic", "Latin"]))
        );
        assert_eq!(
            check("\u{430}lice"),
            Err(NameRefusal::MixedScripts(vec!["Cyrillic", "Latin"]))
        );
        assert!(matches!(
            check("山田taro"),
            Err(NameRefusal::MixedScripts(_))
        ));
        assert!(matches!(check("ΑLICE"), Err(NameRefusal::MixedScripts(_))));
        let message = check(mixed).unwrap_err().to_string();
        assert!(
            message.contains("mixes scripts (Cyrillic, Latin)"),
            "{message}"
        );
    }

    #[test]
    fn other_characters_lengths_and_marks_are_refused() {
        assert_eq!(check(""), Err(NameRefusal::Length));
        assert_eq!(check(&"a".repeat(MAX_CHARS + 1)), Err(NameRefusal::Length));
        assert_eq!(check(&"я".repeat(MAX_CHARS)), Ok(()));
        for name in ["a b", "a/b", "a\u{200d}b", "a\u{200b}", "a😀", "a#"] {
            assert_eq!(check(name), Err(NameRefusal::Characters), "{name:?}");
        }
        assert_eq!(check("\u{301}a"), Err(NameRefusal::Marks));
        assert_eq!(check("a\u{301}\u{302}\u{303}\u{304}"), Ok(()));
        assert_eq!(
            check("a\u{301}\u{302}\u{303}\u{304}\u{305}"),
            Err(NameRefusal::Marks)
        );
    }
}
