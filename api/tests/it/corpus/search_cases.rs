//! Hostile task searches: whatever a client types into `filter.search`
//! (either engine's query syntax, SQL, unbalanced quotes, punctuation,
//! emoji, control characters, long words) is parsed by the service, never
//! passed to the database raw, so every one of them runs: 200, no errors,
//! with every order including RELEVANCE. Only the length limits refuse.

use serde_json::json;

use super::Category::{Domain, Pass};
use super::{Case, Expect, case, field, qv};

const SEARCH: &str = "query($s: String, $o: [TaskOrder!]) {
    tasks(filter: {search: $s}, orderBy: $o, first: 5) { totalCount nodes { id } pageInfo { endCursor } } }";

pub fn cases() -> Vec<Case> {
    let long_word = "x".repeat(1000);
    let wide_word = "𝔸".repeat(1000);
    let hostile: Vec<(&str, String)> = vec![
        (
            "PostgreSQL tsquery operators",
            "milk & !eggs | (bread <-> butter):* 'x':AB".into(),
        ),
        ("PostgreSQL tsquery of only operators", "&|!():*<->".into()),
        (
            "FTS5 operators",
            "milk AND eggs OR NOT bread NEAR(a b, 3) ^start".into(),
        ),
        (
            "FTS5 column filter",
            "description:milk {description}:x - + *".into(),
        ),
        (
            "FTS5 prefix and phrase syntax",
            "mil* \"a\" + \"b\" \"c\"*".into(),
        ),
        ("unbalanced quote", "\"buy milk".into()),
        ("only a quote", "\"".into()),
        ("three quotes", "\"a\" \"".into()),
        ("typographic quotes", "“buy milk” „x".into()),
        ("single quotes", "'buy' 'milk".into()),
        ("backslashes", "\\ \\\\ milk\\".into()),
        ("SQL injection", "'; DROP TABLE tasks; --".into()),
        ("SQL comment", "milk /* x */ -- y".into()),
        ("LIKE wildcards", "%_%".into()),
        ("only punctuation", "!@#$%^&*()_+-=[]{}|;:,.<>?/~`".into()),
        ("only exclusions", "-milk -\"oat milk\" -".into()),
        ("minus signs only", "- -- ---".into()),
        ("emoji", "🥛🍞 milk🥛 👨‍👩‍👧".into()),
        ("combining marks alone", "\u{301}\u{308}".into()),
        ("letters unaccent folds to a quote", "ʹ ʺ ˮ".into()),
        ("fractions and ligatures", "½ ﬁ Æ ß".into()),
        ("right-to-left and CJK", "חלב 牛奶 молоко".into()),
        ("control characters", "milk\u{0}\u{7}\u{1b}[31m".into()),
        ("zero-width characters", "mi\u{200b}lk \u{feff}".into()),
        ("a 1000-character word", long_word),
        ("a 1000-character word of 4-byte letters", wide_word),
        ("32 words", vec!["the"; 32].join(" ")),
        ("dollar quoting", "$$ $1 $fn$ ?".into()),
        ("stop words only", "the and of".into()),
    ];
    let mut cases = Vec::new();
    for (name, text) in &hostile {
        for order in [
            json!(null),
            json!([{ "field": "RELEVANCE", "direction": "DESC" }]),
        ] {
            let ordered = if order.is_null() { "" } else { " by relevance" };
            cases.push(case(
                format!("search: {name}{ordered}"),
                Pass,
                qv(SEARCH, json!({ "s": text, "o": order })),
                Expect::Ok,
            ));
        }
    }
    cases.push(case(
        "search over 1000 characters",
        Domain,
        qv(SEARCH, json!({ "s": "x".repeat(1001) })),
        field("BAD_USER_INPUT", "filter.search"),
    ));
    cases.push(case(
        "search of 33 words",
        Domain,
        qv(SEARCH, json!({ "s": vec!["w"; 33].join(" ") })),
        field("BAD_USER_INPUT", "filter.search"),
    ));
    cases.push(case(
        "RELEVANCE without a search",
        Domain,
        qv(
            SEARCH,
            json!({ "s": null, "o": [{ "field": "RELEVANCE" }] }),
        ),
        field("BAD_USER_INPUT", "orderBy"),
    ));
    cases
}
