//! Abuse limits on GraphQL documents. async-graphql enforces depth,
//! complexity, directives and parser recursion itself (their errors are
//! renamed in `codes.rs`); these are the limits it lacks: document size,
//! tokens, aliases, root fields, closed introspection and missing required
//! variables. Every violation is the same error: `LIMIT_EXCEEDED` with
//! `extensions.limit` naming the limit.

use std::collections::HashSet;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::parser::{Pos, Positioned};
use async_graphql::{Name, ServerError, Value, Variables};

use super::codes::{self, Code};
use super::settings::GraphqlLimits;

/// A `LIMIT_EXCEEDED` error naming the limit.
pub(crate) fn limit_error(limit: &str, message: impl Into<String>) -> ServerError {
    let mut error = ServerError::new(message, None);
    codes::set(&mut error, Code::LimitExceeded);
    codes::set_extension(&mut error, "limit", limit);
    error
}

/// Size checks, before the parser spends any time on the text.
pub(crate) fn check_text(limits: &GraphqlLimits, query: &str) -> Result<(), ServerError> {
    let bytes = query.len();
    if bytes > limits.max_document_bytes {
        return Err(limit_error(
            "documentBytes",
            format!(
                "the query is {bytes} bytes long; at most {} are allowed",
                limits.max_document_bytes
            ),
        ));
    }
    if count_tokens(query, limits.max_tokens) > limits.max_tokens {
        return Err(limit_error(
            "tokens",
            format!("the query has more than {} tokens", limits.max_tokens),
        ));
    }
    Ok(())
}

/// What the document alone decides: aliases, root fields, introspection.
pub(crate) fn check_document(
    limits: &GraphqlLimits,
    introspection: bool,
    document: &ExecutableDocument,
) -> Result<(), ServerError> {
    let aliases = count_aliases(document);
    if aliases > limits.max_aliases {
        return Err(limit_error(
            "aliases",
            format!(
                "the query uses {aliases} aliases; at most {} are allowed",
                limits.max_aliases
            ),
        ));
    }
    for (_, operation) in document.operations.iter() {
        let mut root = RootFields::new(document);
        root.visit(&operation.node.selection_set.node);
        if root.count > limits.max_root_fields {
            return Err(limit_error(
                "rootFields",
                format!(
                    "an operation selects {} root fields; at most {} are allowed",
                    root.count, limits.max_root_fields
                ),
            ));
        }
        if root.introspection && !introspection {
            let mut error = ServerError::new("introspection is disabled on this server", None);
            codes::set(&mut error, Code::ValidationFailed);
            return Err(error);
        }
    }
    Ok(())
}

/// A required variable that is missing or null is the client's mistake, said
/// before anything runs (async-graphql would only notice in the resolver).
pub(crate) fn check_required_variables(
    document: &ExecutableDocument,
    variables: &Variables,
) -> Result<(), ServerError> {
    for (_, operation) in document.operations.iter() {
        for definition in &operation.node.variable_definitions {
            let definition = &definition.node;
            let provided = variables
                .get(&definition.name.node)
                .is_some_and(|value| *value != Value::Null);
            if !definition.var_type.node.nullable && definition.default_value.is_none() && !provided
            {
                let mut error = ServerError::new(
                    format!(
                        "variable ${} of type {} was not provided",
                        definition.name.node, definition.var_type.node
                    ),
                    Some(definition.name.pos),
                );
                codes::set(&mut error, Code::BadUserInput);
                return Err(error);
            }
        }
    }
    Ok(())
}

fn has_variable(value: &async_graphql_value::Value) -> bool {
    use async_graphql_value::Value;
    match value {
        Value::Variable(_) => true,
        Value::List(items) => items.iter().any(has_variable),
        Value::Object(fields) => fields.values().any(has_variable),
        _ => false,
    }
}

type Argument = (Positioned<Name>, Positioned<async_graphql_value::Value>);

/// Where validation reports a bad variable value: the variable definitions,
/// and the arguments (with their fields and directives) that use variables.
pub(crate) fn variable_positions(document: &ExecutableDocument) -> HashSet<Pos> {
    fn arguments(list: &[Argument], owner: Pos, out: &mut HashSet<Pos>) {
        for (name, value) in list {
            if has_variable(&value.node) {
                out.extend([name.pos, value.pos, owner]);
            }
        }
    }
    fn in_set(set: &SelectionSet, out: &mut HashSet<Pos>) {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    arguments(&field.node.arguments, selection.pos, out);
                    for directive in &field.node.directives {
                        arguments(&directive.node.arguments, directive.pos, out);
                    }
                    in_set(&field.node.selection_set.node, out);
                }
                Selection::InlineFragment(fragment) => {
                    in_set(&fragment.node.selection_set.node, out);
                }
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    let mut out = HashSet::new();
    for (_, operation) in document.operations.iter() {
        for definition in &operation.node.variable_definitions {
            out.extend([
                definition.pos,
                definition.node.name.pos,
                definition.node.var_type.pos,
            ]);
        }
        in_set(&operation.node.selection_set.node, &mut out);
    }
    for fragment in document.fragments.values() {
        in_set(&fragment.node.selection_set.node, &mut out);
    }
    out
}

/// Aliases anywhere in the document, fragments included (each counted once).
fn count_aliases(document: &ExecutableDocument) -> usize {
    fn in_set(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|selection| match &selection.node {
                Selection::Field(field) => {
                    usize::from(field.node.alias.is_some()) + in_set(&field.node.selection_set.node)
                }
                Selection::InlineFragment(fragment) => in_set(&fragment.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let in_operations: usize = document
        .operations
        .iter()
        .map(|(_, op)| in_set(&op.node.selection_set.node))
        .sum();
    let in_fragments: usize = document
        .fragments
        .values()
        .map(|fragment| in_set(&fragment.node.selection_set.node))
        .sum();
    in_operations + in_fragments
}

/// The fields an operation selects at its root, through fragments.
struct RootFields<'a> {
    document: &'a ExecutableDocument,
    visited: HashSet<&'a str>,
    count: usize,
    introspection: bool,
}

impl<'a> RootFields<'a> {
    fn new(document: &'a ExecutableDocument) -> Self {
        Self {
            document,
            visited: HashSet::new(),
            count: 0,
            introspection: false,
        }
    }

    fn visit(&mut self, set: &'a SelectionSet) {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    if name == "__typename" {
                        continue;
                    }
                    self.count += 1;
                    // `_service { sdl }` is the whole schema too: a gateway
                    // composes from a checked-in supergraph where it is off.
                    if matches!(name, "__schema" | "__type" | "_service") {
                        self.introspection = true;
                    }
                }
                Selection::InlineFragment(fragment) => {
                    self.visit(&fragment.node.selection_set.node);
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    // Each fragment once: cycles are the validator's to report.
                    if self.visited.insert(name)
                        && let Some(fragment) = self.document.fragments.get(name)
                    {
                        self.visit(&fragment.node.selection_set.node);
                    }
                }
            }
        }
    }
}

/// Lexical tokens of a GraphQL document (punctuators, names, numbers,
/// strings), counted up to just past `stop_after`. Whitespace, commas and
/// comments are ignored tokens, as in the spec.
fn count_tokens(text: &str, stop_after: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut tokens = 0;
    while i < bytes.len() && tokens <= stop_after {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            // A byte order mark is ignored too.
            0xEF if bytes[i..].starts_with(&[0xEF, 0xBB, 0xBF]) => i += 3,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 3;
                tokens += 1;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                tokens += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                i += 3;
                tokens += 1;
            }
            b if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' => {
                // Names and numbers (with sign, fraction and exponent).
                i += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || bytes[i] == b'_'
                        || (bytes[i] == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
                        || ((bytes[i] == b'+' || bytes[i] == b'-')
                            && matches!(bytes[i - 1], b'e' | b'E')))
                {
                    i += 1;
                }
                tokens += 1;
            }
            _ => {
                // Punctuators, and any other character (the parser rejects it).
                i += text[i..].chars().next().map_or(1, char::len_utf8);
                tokens += 1;
            }
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_tokens_like_the_spec() {
        assert_eq!(count_tokens("{ a }", 100), 3);
        assert_eq!(
            count_tokens("query Q($x: Int = -1.5e+3) { a(x: $x) }", 100),
            19
        );
        assert_eq!(count_tokens("{ a # comment } \n , b }", 100), 4);
        assert_eq!(
            count_tokens(r#"{ a(s: "x \" y", t: """ "" """) }"#, 100),
            11
        );
        assert_eq!(count_tokens("{ ...F } fragment F on T { a }", 100), 11);
        assert_eq!(count_tokens("", 100), 0);
        // Stops counting early on huge inputs.
        assert_eq!(count_tokens(&"{ a }".repeat(1000), 10), 11);
    }
}
