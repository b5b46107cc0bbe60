//! Keyset bounds: the WHERE condition that starts a page just past its
//! cursor, and the ORDER BY that reads it, for any mix of directions and
//! nullable keys; and a list led by a grouping key, read one group at a time.

use chrono::{DateTime, Utc};
use sea_orm::Value;
use sea_orm::prelude::Uuid;
use sea_orm::sea_query::{
    Alias, Asterisk, Condition, Expr, ExprTrait, Order, Query, SelectStatement, UnionType,
};

use super::cursor::KeyValue;
use super::{Direction, KeyKind, PageRequest, SortKey};
use crate::error::{AppError, AppResult};

/// The WHERE condition that keeps only rows between the request's cursors.
pub(crate) fn cursor_bounds<M>(keys: &[SortKey<M>], request: &PageRequest) -> AppResult<Condition> {
    let mut cond = Condition::all();
    if let Some(after) = &request.after {
        cond = cond.add(beyond(keys, after, false)?);
    }
    if let Some(before) = &request.before {
        cond = cond.add(beyond(keys, before, true)?);
    }
    Ok(cond)
}

/// ORDER BY terms in fetch order.
pub(crate) fn order_terms<M>(keys: &[SortKey<M>], backward: bool) -> Vec<(Expr, Order)> {
    keys.iter()
        .map(|k| {
            let dir = if backward {
                k.direction.flip()
            } else {
                k.direction
            };
            (k.expr.clone(), dir.order())
        })
        .collect()
}

/// The page of a list led by a grouping key, as one statement: each group the
/// cursors leave open is read on its own, in the order of the `rest` keys
/// and at most a page of it, and the pieces (`UNION ALL`, at most two pages
/// of rows) are put in order. Only rows between the cursors are read, so
/// each piece is one range scan of an index on the `rest` keys, in either
/// direction, where one ORDER BY over the grouping key could not use any.
/// `None` when the cursors leave no group open.
pub(super) fn by_groups<M>(
    select: SelectStatement,
    lead: &SortKey<M>,
    rest: &[SortKey<M>],
    request: &PageRequest,
) -> AppResult<Option<SelectStatement>> {
    let after = group_of(rest, "after", request.after.as_deref())?;
    let before = group_of(rest, "before", request.before.as_deref())?;
    // Whether value `g` comes after value `h` in the list's order.
    let ascending = lead.direction == Direction::Asc;
    let later = |g: i64, h: i64| if ascending { g > h } else { g < h };
    let mut groups: Vec<&(i64, Condition)> = lead.groups.iter().collect();
    if !ascending ^ request.backward {
        groups.reverse();
    }
    let mut pieces = Vec::new();
    for (g, condition) in groups {
        let mut piece = select.clone();
        piece.cond_where(condition.clone());
        match after {
            Some((h, _)) if later(h, *g) => continue,
            Some((h, values)) if h == *g => {
                piece.cond_where(beyond(rest, values, false)?);
            }
            _ => {}
        }
        match before {
            Some((h, _)) if later(*g, h) => continue,
            Some((h, values)) if h == *g => {
                piece.cond_where(beyond(rest, values, true)?);
            }
            _ => {}
        }
        for (expr, order) in order_terms(rest, request.backward) {
            piece.order_by_expr(expr, order);
        }
        piece.limit(request.limit + 1);
        pieces.push((*g, piece));
    }
    if pieces.len() < 2 {
        return Ok(pieces.pop().map(|(_, piece)| piece));
    }
    // The pieces carry their group and sort values under names the combined
    // ORDER BY can use (a compound SELECT sorts by its output columns).
    let group = Alias::new("page_group");
    let key = |i: usize| Alias::new(format!("page_key_{i}"));
    let mut pieces = pieces.into_iter().enumerate().map(|(n, (g, mut piece))| {
        piece.expr_as(Expr::val(g), group.clone());
        for (i, k) in rest.iter().enumerate() {
            piece.expr_as(k.expr.clone(), key(i));
        }
        // SQLite allows no ORDER BY or LIMIT on a compound's members, but on
        // a subquery in one.
        Query::select()
            .column(Asterisk)
            .from_subquery(piece, Alias::new(format!("page_piece_{n}")))
            .to_owned()
    });
    let Some(mut combined) = pieces.next() else {
        return Ok(None);
    };
    for piece in pieces {
        combined.union(UnionType::All, piece);
    }
    let flip = |d: Direction| if request.backward { d.flip() } else { d };
    combined.order_by(group, flip(lead.direction).order());
    for (i, k) in rest.iter().enumerate() {
        combined.order_by(key(i), flip(k.direction).order());
    }
    Ok(Some(combined.limit(request.limit + 1).to_owned()))
}

/// The group value a cursor points at, and its values for the other keys.
fn group_of<'v, M>(
    rest: &[SortKey<M>],
    field: &str,
    cursor: Option<&'v [KeyValue]>,
) -> AppResult<Option<(i64, &'v [KeyValue])>> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    match cursor.split_first() {
        Some((KeyValue::Int(g), values)) if values.len() == rest.len() => Ok(Some((*g, values))),
        _ => Err(AppError::bad_input(
            field,
            format!("`{field}` is not a valid cursor"),
        )),
    }
}

/// Rows strictly after (or, with `reverse`, strictly before) the cursor `values`
/// in the order of `keys`: the usual expansion of a row-value comparison, which
/// also works where keys mix directions and where a key may be NULL.
fn beyond<M>(keys: &[SortKey<M>], values: &[KeyValue], reverse: bool) -> AppResult<Condition> {
    if values.len() != keys.len() {
        return Err(AppError::bad_input(
            if reverse { "before" } else { "after" },
            "cursor does not match this list",
        ));
    }
    let field = if reverse { "before" } else { "after" };
    let mut values_bound = Vec::with_capacity(keys.len());
    for (key, value) in keys.iter().zip(values) {
        values_bound.push(to_sql_value(field, key.kind, value)?);
    }
    let bound: Vec<Option<Expr>> = keys
        .iter()
        .zip(&values_bound)
        .map(|(key, value)| {
            value.clone().map(|v| match &key.rebound {
                Some(rebound) => rebound(v, &values_bound),
                None => Expr::val(v),
            })
        })
        .collect();
    let directions: Vec<Direction> = keys
        .iter()
        .map(|k| {
            if reverse {
                k.direction.flip()
            } else {
                k.direction
            }
        })
        .collect();
    // Keys that all run one way, past a cursor without NULLs: one row-value
    // comparison, which both engines read as one range of an index on them.
    if !keys.is_empty()
        && directions.windows(2).all(|d| d[0] == d[1])
        && bound.iter().all(Option::is_some)
    {
        let row = Expr::tuple(keys.iter().map(|k| k.expr.clone()));
        let cursor = Expr::tuple(bound.iter().flatten().cloned());
        return Ok(Condition::all().add(match directions.first() {
            Some(Direction::Desc) => row.lt(cursor),
            _ => row.gt(cursor),
        }));
    }
    let mut any = Condition::any();
    for i in 0..keys.len() {
        let mut all = Condition::all();
        for (key, value) in keys[..i].iter().zip(&bound[..i]) {
            all = all.add(match value {
                None => key.expr.clone().is_null(),
                Some(v) => key.expr.clone().eq(v.clone()),
            });
        }
        let key = &keys[i];
        let dir = if reverse {
            key.direction.flip()
        } else {
            key.direction
        };
        // Nothing sorts strictly past NULL within a nullable key: NULLs are grouped
        // by an explicit "is null" key placed before it.
        let Some(v) = &bound[i] else { continue };
        all = all.add(match dir {
            Direction::Asc => key.expr.clone().gt(v.clone()),
            Direction::Desc => key.expr.clone().lt(v.clone()),
        });
        any = any.add(all);
    }
    // An empty OR would render as no condition at all, i.e. "everything".
    if any.is_empty() {
        any = any.add(Expr::val(1).eq(0));
    }
    // The first key's bound, redundant with the OR above but the part of it
    // an index range can start from.
    let mut all = Condition::all().add(any);
    if let (Some(key), Some(Some(v))) = (keys.first(), bound.first()) {
        all = all.add(match directions[0] {
            Direction::Asc => key.expr.clone().gte(v.clone()),
            Direction::Desc => key.expr.clone().lte(v.clone()),
        });
    }
    Ok(all)
}

fn to_sql_value(field: &str, kind: KeyKind, value: &KeyValue) -> AppResult<Option<Value>> {
    let invalid = || AppError::bad_input(field, format!("`{field}` is not a valid cursor"));
    Ok(Some(match (kind, value) {
        (_, KeyValue::Null) => return Ok(None),
        (KeyKind::Int, KeyValue::Int(n)) => Value::from(*n),
        (KeyKind::Text, KeyValue::Text(s)) => Value::from(s.clone()),
        (KeyKind::Time, KeyValue::Text(s)) => {
            let t = DateTime::parse_from_rfc3339(s).map_err(|_| invalid())?;
            Value::from(t.with_timezone(&Utc))
        }
        (KeyKind::Uuid, KeyValue::Text(s)) => {
            Value::from(Uuid::parse_str(s).map_err(|_| invalid())?)
        }
        (KeyKind::Float, KeyValue::Text(s)) => {
            let f = s.parse::<f64>().map_err(|_| invalid())?;
            if !f.is_finite() {
                return Err(invalid());
            }
            Value::from(f)
        }
        _ => return Err(invalid()),
    }))
}
