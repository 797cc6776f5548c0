//! Exit statuses in the tables' prose (verb descriptions, option
//! paragraphs) are named by their kind in the registry
//! (`dkms_state::kind::Kind`), never written as numbers: `{status:KIND}`
//! reads as the kind's status (`3`), `{kind:KIND}` as the status and the
//! kind (`3 (kind tree-exists)`). The man pages are generated from the
//! expanded text (`expand`), so a status changed in the registry changes
//! every page that mentions it.

use dkms_state::error::{Kind, Status};

/// `text` with every placeholder replaced; other braces (the JSON page's
/// `{module, kind, hint}`) are text. Panics on a placeholder that names no
/// kind, or a kind whose status varies: the tables are ours, and a test
/// expands all of them.
pub fn expand(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = ["{status:", "{kind:"].iter().filter_map(|p| rest.find(p)).min() {
        out.push_str(&rest[..at]);
        let end = rest[at..].find('}').map(|e| at + e).unwrap_or_else(|| panic!("unclosed {{ in {text:?}"));
        out.push_str(&placeholder(&rest[at + 1..end]));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The text of one placeholder (`status:tree-exists`).
fn placeholder(p: &str) -> String {
    let (form, name) = p.split_once(':').unwrap_or_else(|| panic!("{{{p}}} is not {{status:KIND}} or {{kind:KIND}}"));
    let kind = Kind::ALL.iter().find(|k| k.name() == name).unwrap_or_else(|| panic!("{{{p}}}: no kind {name}"));
    let Status::Fixed(code) = kind.status() else { panic!("{{{p}}}: the status of {name} varies") };
    match form {
        "status" => code.to_string(),
        "kind" => format!("{code} (kind {name})"),
        _ => panic!("{{{p}}} is not {{status:KIND}} or {{kind:KIND}}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every prose text of the tables: verb descriptions, sub-word
    /// summaries, option help and paragraphs.
    fn all_prose() -> Vec<&'static str> {
        let verbs = crate::table::VERBS.iter().flat_map(|v| {
            std::iter::once(v.description).chain([v.summary]).chain(v.sub_words.iter().map(|w| w.summary))
        });
        verbs.chain(crate::table::FLAGS.iter().flat_map(|f| [f.help, f.long_help])).collect()
    }

    #[test]
    fn placeholders_read_as_the_registry_says() {
        assert_eq!(expand("exit status {status:tree-exists}."), "exit status 3.");
        assert_eq!(expand("{kind:lock-timeout}, {status:build-exclusive}"), "75 (kind lock-timeout), 77");
        assert_eq!(expand("no placeholder"), "no placeholder");
        assert_eq!(expand("{module, kind}"), "{module, kind}");
        for text in all_prose() {
            expand(text);
        }
    }

    #[test]
    #[should_panic(expected = "no kind")]
    fn an_unknown_kind_is_refused() {
        expand("{status:no-such-kind}");
    }

    /// No exit status is written as a number: in a sentence that speaks
    /// of a status or of what a verb exits with, the only number left once
    /// the placeholders are taken out is 0 (success, which is no failure
    /// kind).
    #[test]
    fn no_exit_status_is_written_by_hand() {
        for text in all_prose() {
            let mut bare = String::new();
            let mut rest = text;
            while let Some(at) = rest.find('{') {
                bare.push_str(&rest[..at]);
                rest = rest[at..].split_once('}').map_or("", |(_, r)| r);
            }
            bare.push_str(rest);
            // Man-page references (dkms-status(8)) are no statuses.
            for section in ["(1)", "(5)", "(7)", "(8)"] {
                bare = bare.replace(section, "");
            }
            for sentence in bare.replace(".\n", ". ").split(". ") {
                let lower = sentence.to_lowercase();
                if !(lower.contains("status") || lower.contains("exits")) {
                    continue;
                }
                let numbers = sentence.split(|c: char| !c.is_ascii_alphanumeric());
                for n in numbers.filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_digit())) {
                    assert_eq!(n, "0", "a hand-written exit status {n} in: {sentence}");
                }
            }
        }
    }
}
