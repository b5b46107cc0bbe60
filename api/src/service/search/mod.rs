//! Full-text search of task descriptions. What a client types is parsed
//! here into words, phrases and exclusions, and only those reach the
//! database, as bound values inside SQL this module writes (`search/sql.rs`): no
//! punctuation, quote or operator of either engine is ever passed through.
//!
//! The syntax, the same on both engines:
//! - words, separated by anything that is not a letter or digit, must all
//!   match; each engine stems them (`buying` finds `buy`) and folds case and
//!   accents;
//! - `"a quoted phrase"` matches those words next to each other (an
//!   unbalanced quote runs to the end);
//! - `-word` and `-"a phrase"` exclude tasks that contain them;
//! - the last word (unless quoted or excluded) also matches as a prefix, so
//!   `mil` finds `milk` while someone is still typing.

mod sql;

pub(crate) use sql::SearchSql;

use crate::error::{AppError, AppResult};

/// Longest search accepted, in characters (as long as a description).
pub(crate) const MAX_SEARCH_CHARS: usize = 1000;
/// Most words and phrases in one search.
pub(crate) const MAX_SEARCH_TERMS: usize = 32;

const FIELD: &str = "filter.search";

/// A parsed search: every term must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct SearchQuery {
    pub(crate) terms: Vec<Term>,
    /// Nothing but white space was typed: no search at all (every task),
    /// where other text without words (`!!!`) finds nothing.
    pub(crate) blank: bool,
}

/// One word (or a phrase of several) that a task must contain, or must not.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Term {
    /// Letters and digits only, never empty.
    pub(crate) words: Vec<String>,
    pub(crate) phrase: bool,
    pub(crate) excluded: bool,
    /// The word may be the start of a longer one.
    pub(crate) prefix: bool,
}

impl SearchQuery {
    /// Parses what a client typed. Fails only for text over the limits;
    /// anything else (punctuation, unbalanced quotes, either engine's
    /// operators, emoji) parses into terms, possibly none.
    pub(crate) fn parse(text: &str) -> AppResult<Self> {
        if text.chars().count() > MAX_SEARCH_CHARS {
            return Err(AppError::bad_input(
                FIELD,
                format!("`search` is longer than {MAX_SEARCH_CHARS} characters"),
            ));
        }
        if text.trim().is_empty() {
            return Ok(Self {
                terms: Vec::new(),
                blank: true,
            });
        }
        let mut terms = Vec::new();
        let mut chars = text.chars().peekable();
        let mut ends_in_open_word = false;
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let Some(&first) = chars.peek() else { break };
            let mut excluded = false;
            if first == '-' {
                chars.next();
                excluded = true;
            }
            if chars.next_if(|c| is_quote(*c)).is_some() {
                let mut phrase = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if is_quote(c) {
                        closed = true;
                        break;
                    }
                    phrase.push(c);
                }
                let words = words_of(&phrase);
                if !words.is_empty() {
                    terms.push(Term {
                        words,
                        phrase: true,
                        excluded,
                        prefix: false,
                    });
                }
                ends_in_open_word = false;
                if !closed {
                    break;
                }
                continue;
            }
            let mut chunk = String::new();
            while let Some(c) = chars.next_if(|c| !c.is_whitespace() && !is_quote(*c)) {
                chunk.push(c);
            }
            let words = words_of(&chunk);
            ends_in_open_word = !excluded && !words.is_empty();
            if excluded {
                // `-e-mail` excludes the phrase, not every task with an "e".
                if !words.is_empty() {
                    terms.push(Term {
                        phrase: words.len() > 1,
                        words,
                        excluded: true,
                        prefix: false,
                    });
                }
            } else {
                terms.extend(words.into_iter().map(|word| Term {
                    words: vec![word],
                    phrase: false,
                    excluded: false,
                    prefix: false,
                }));
            }
        }
        if ends_in_open_word && let Some(last) = terms.last_mut() {
            last.prefix = true;
        }
        if terms.len() > MAX_SEARCH_TERMS {
            return Err(AppError::bad_input(
                FIELD,
                format!("`search` has more than {MAX_SEARCH_TERMS} words and phrases"),
            ));
        }
        Ok(Self {
            terms,
            blank: false,
        })
    }

    /// Whether some term must be present (what a rank can measure).
    pub(crate) fn has_required_terms(&self) -> bool {
        self.terms.iter().any(|t| !t.excluded)
    }
}

/// Straight and typographic double quotes (phones type the latter).
fn is_quote(c: char) -> bool {
    matches!(c, '"' | '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{FF02}')
}

/// The words of `text`: runs of letters and digits, as both engines'
/// tokenizers split them.
fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(w: &str) -> Term {
        Term {
            words: vec![w.into()],
            phrase: false,
            excluded: false,
            prefix: false,
        }
    }

    fn prefix(w: &str) -> Term {
        Term {
            prefix: true,
            ..word(w)
        }
    }

    fn phrase(ws: &[&str]) -> Term {
        Term {
            words: ws.iter().map(|w| (*w).to_owned()).collect(),
            phrase: true,
            excluded: false,
            prefix: false,
        }
    }

    fn not(t: Term) -> Term {
        Term {
            excluded: true,
            ..t
        }
    }

    fn parse(text: &str) -> Vec<Term> {
        SearchQuery::parse(text).expect(text).terms
    }

    #[test]
    fn words_phrases_exclusions_and_a_prefix() {
        assert_eq!(parse("buying milk"), vec![word("buying"), prefix("milk")]);
        assert_eq!(
            parse("\"buy milk\" fresh"),
            vec![phrase(&["buy", "milk"]), prefix("fresh")]
        );
        assert_eq!(parse("milk -eggs"), vec![word("milk"), not(word("eggs"))]);
        assert_eq!(
            parse("-\"oat milk\" coffee"),
            vec![not(phrase(&["oat", "milk"])), prefix("coffee")]
        );
        assert_eq!(
            parse("milk \"eggs\""),
            vec![word("milk"), phrase(&["eggs"])]
        );
        assert_eq!(parse("e-mail"), vec![word("e"), prefix("mail")]);
        assert_eq!(parse("-e-mail"), vec![not(phrase(&["e", "mail"]))]);
        assert_eq!(parse("Zoë café"), vec![word("Zoë"), prefix("café")]);
    }

    #[test]
    fn hostile_input_parses_into_plain_words() {
        assert_eq!(
            parse("\"unbalanced quote"),
            vec![phrase(&["unbalanced", "quote"])]
        );
        assert_eq!(parse("a \"b"), vec![word("a"), phrase(&["b"])]);
        assert_eq!(
            parse("milk & !eggs | (bread) <-> x:* NEAR(a b) ^c col:d"),
            [
                "milk", "eggs", "bread", "x", "NEAR", "a", "b", "c", "col", "d"
            ]
            .iter()
            .enumerate()
            .map(|(i, w)| if i == 9 { prefix(w) } else { word(w) })
            .collect::<Vec<_>>()
        );
        assert_eq!(
            parse("'; DROP TABLE tasks; --"),
            vec![word("DROP"), word("TABLE"), word("tasks")]
        );
        assert!(SearchQuery::parse(" \t\n").unwrap().blank);
        assert!(!SearchQuery::parse("!!!").unwrap().blank);
        for nothing in [
            "", "   ", "!!!", "\"\"", "-", "--", "- -", "🥛🥛", "\"", "-\"\"", "'",
        ] {
            assert_eq!(parse(nothing), vec![], "{nothing:?}");
        }
        assert_eq!(parse("🥛milk🥛"), vec![prefix("milk")]);
    }

    #[test]
    fn limits_are_refused_not_truncated() {
        assert!(SearchQuery::parse(&"a".repeat(MAX_SEARCH_CHARS)).is_ok());
        assert!(SearchQuery::parse(&"a".repeat(MAX_SEARCH_CHARS + 1)).is_err());
        let many = vec!["w"; MAX_SEARCH_TERMS].join(" ");
        assert!(SearchQuery::parse(&many).is_ok());
        assert!(SearchQuery::parse(&format!("{many} w")).is_err());
    }
}
