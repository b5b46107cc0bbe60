//! Relay-style keyset pagination shared by every list.
//!
//! A cursor holds the sort-key values of the row it points at, plus a signature of
//! the sort order it was made for, so a page boundary stays put while rows are
//! inserted elsewhere and a cursor cannot silently be reused with another order.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Alias, Asterisk, Condition, Expr, ExprTrait, Func, Order, Query, SelectStatement, UnionType,
};
use sea_orm::{ConnectionTrait, FromQueryResult};
use sea_orm::{Value, prelude::Uuid};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::error::{AppError, AppResult};

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    #[default]
    Asc,
    Desc,
}

impl Direction {
    fn flip(self) -> Self {
        match self {
            Self::Asc => Self::Desc,
            Self::Desc => Self::Asc,
        }
    }

    fn order(self) -> Order {
        match self {
            Self::Asc => Order::Asc,
            Self::Desc => Order::Desc,
        }
    }
}

/// Pagination arguments exactly as a client sent them.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

impl PageArgs {
    pub fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Self {
        Self {
            first,
            after,
            last,
            before,
        }
    }
}

/// One value of a sort key, as kept in a cursor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyValue {
    Null,
    Int(i64),
    Text(String),
}

impl KeyValue {
    pub fn time(t: &DateTime<Utc>) -> Self {
        Self::Text(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    }

    pub fn opt_time(t: &Option<DateTime<Utc>>) -> Self {
        t.as_ref().map_or(Self::Null, Self::time)
    }

    pub fn uuid(id: &Uuid) -> Self {
        Self::Text(id.to_string())
    }

    /// A float exactly as the engine returned it: the shortest text that
    /// reads back as the same `f64` (JSON numbers need not round-trip).
    pub fn float(f: f64) -> Self {
        Self::Text(format!("{f:e}"))
    }
}

/// How a sort key's cursor value is bound back into SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Time,
    Int,
    Text,
    Uuid,
    Float,
}

/// Turns a key's cursor value into the bound a page starts from, given the
/// bound values of all the cursor's keys: for a key whose kept value can go
/// stale (see `search::SearchSql::rebound`).
pub type Rebound = Arc<dyn Fn(Value, &[Option<Value>]) -> Expr + Send + Sync>;

/// One ORDER BY term of a list, and how to read its value off a row.
pub struct SortKey<M> {
    pub expr: Expr,
    pub direction: Direction,
    pub kind: KeyKind,
    pub value_of: fn(&M) -> KeyValue,
    /// For an `Int` key with few values, each value with the condition its
    /// rows meet (the "has no due date" flag before a nullable column; the
    /// priorities a filter admits): a list led by it is read one value at a
    /// time, where every later key is a plain range of an index. Empty for
    /// other keys.
    pub groups: Vec<(i64, Condition)>,
    /// `None`: the cursor's value is the bound.
    pub rebound: Option<Rebound>,
}

/// A validated page request: limit, direction and decoded cursor bounds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageRequest {
    pub limit: u64,
    /// `last`/`before` pagination: rows are fetched in reverse and flipped back.
    pub backward: bool,
    pub after: Option<Vec<KeyValue>>,
    pub before: Option<Vec<KeyValue>>,
}

impl PageRequest {
    /// Validates `args` for a list sorted by keys with the given signature.
    pub fn new(args: &PageArgs, signature: &str) -> AppResult<Self> {
        let size = |field: &str, value: Option<i32>| -> AppResult<Option<u64>> {
            match value {
                None => Ok(None),
                Some(n) if (0..=MAX_PAGE_SIZE as i32).contains(&n) => Ok(Some(n as u64)),
                Some(_) => Err(AppError::bad_input(
                    field,
                    format!("`{field}` must be between 0 and {MAX_PAGE_SIZE}"),
                )),
            }
        };
        let first = size("first", args.first)?;
        let last = size("last", args.last)?;
        let (limit, backward) = match (first, last) {
            (Some(_), Some(_)) => {
                return Err(AppError::bad_input(
                    "last",
                    "pass either `first` or `last`, not both",
                ));
            }
            (Some(n), None) => (n, false),
            (None, Some(n)) => (n, true),
            (None, None) => (
                DEFAULT_PAGE_SIZE,
                args.before.is_some() && args.after.is_none(),
            ),
        };
        Ok(Self {
            limit,
            backward,
            after: decode_cursor("after", args.after.as_deref(), signature)?,
            before: decode_cursor("before", args.before.as_deref(), signature)?,
        })
    }
}

/// One term of a list's order, as the service sorts by it.
pub trait ListOrder: Sized {
    type Field: Eq + std::hash::Hash;
    type Model;
    /// What the lists ordered this way filter by.
    type Filter;
    /// The order of a list that asks for none.
    const DEFAULT: Self;
    fn field(&self) -> Self::Field;
    /// The ORDER BY of `order`: its terms, then whatever breaks ties.
    fn sort_keys(order: &[Self]) -> Vec<SortKey<Self::Model>>;
    /// Refuses an order that `filter` cannot give (none by default).
    fn check(_filter: &Self::Filter, _order: &[Self]) -> AppResult<()> {
        Ok(())
    }
}

/// A validated list request: what to keep, in which order, which page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListQuery<F, O> {
    pub filter: F,
    pub order: Vec<O>,
    pub page: PageRequest,
}

impl<F, O: ListOrder<Filter = F>> ListQuery<F, O> {
    /// Checks the page against the order it is for (cursors name their
    /// order), after [`normalise`].
    pub fn new(filter: F, order: Vec<O>, args: &PageArgs) -> AppResult<Self> {
        let order = normalise(order);
        O::check(&filter, &order)?;
        let page = PageRequest::new(args, &signature(&O::sort_keys(&order)))?;
        Ok(Self {
            filter,
            order,
            page,
        })
    }
}

/// `order` as lists apply it: later repeats of a field cannot change it,
/// so they are dropped; an empty order is the default one.
pub fn normalise<O: ListOrder>(order: Vec<O>) -> Vec<O> {
    let mut seen = std::collections::HashSet::new();
    let mut order: Vec<O> = order
        .into_iter()
        .filter(|o| seen.insert(o.field()))
        .collect();
    if order.is_empty() {
        order.push(O::DEFAULT);
    }
    order
}

pub fn signature<M>(keys: &[SortKey<M>]) -> String {
    keys.iter()
        .map(|k| {
            format!(
                "{}{}",
                k.kind as u8,
                if k.direction == Direction::Asc {
                    'a'
                } else {
                    'd'
                }
            )
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[derive(Serialize, Deserialize)]
struct CursorBody {
    s: String,
    v: Vec<KeyValue>,
}

pub fn encode_cursor(signature: &str, values: Vec<KeyValue>) -> String {
    let body = CursorBody {
        s: signature.to_owned(),
        v: values,
    };
    // Serialising plain strings and integers cannot fail.
    let json = serde_json::to_vec(&body).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(
    field: &str,
    cursor: Option<&str>,
    signature: &str,
) -> AppResult<Option<Vec<KeyValue>>> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let invalid = || AppError::bad_input(field, format!("`{field}` is not a valid cursor"));
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let body: CursorBody = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if body.s != signature {
        return Err(AppError::bad_input(
            field,
            format!("`{field}` was made for another `orderBy`"),
        ));
    }
    Ok(Some(body.v))
}

/// A page of rows with their cursors.
#[derive(Debug, Clone)]
pub struct Page<M> {
    pub items: Vec<(String, M)>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

impl<M> Page<M> {
    pub fn empty() -> Self {
        Self {
            items: Vec::new(),
            has_next_page: false,
            has_previous_page: false,
        }
    }

    /// The same page (cursors included) of what `f` makes of each row.
    pub fn map<N>(self, f: impl Fn(M) -> N) -> Page<N> {
        Page {
            items: self
                .items
                .into_iter()
                .map(|(cursor, row)| (cursor, f(row)))
                .collect(),
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
        }
    }
}

/// The WHERE condition that keeps only rows between the request's cursors.
pub fn cursor_bounds<M>(keys: &[SortKey<M>], request: &PageRequest) -> AppResult<Condition> {
    let mut cond = Condition::all();
    if let Some(after) = &request.after {
        cond = cond.add(beyond(keys, after, false)?);
    }
    if let Some(before) = &request.before {
        cond = cond.add(beyond(keys, before, true)?);
    }
    Ok(cond)
}

/// Runs `select` (columns, FROM and filters set) as one page: adds the cursor
/// bounds, the order and the limit, and builds the page with its cursors.
pub async fn fetch_page<M: FromQueryResult>(
    db: &impl ConnectionTrait,
    mut select: SelectStatement,
    keys: &[SortKey<M>],
    request: &PageRequest,
) -> AppResult<Page<M>> {
    let statement = match keys.split_first() {
        Some((lead, rest)) if !lead.groups.is_empty() => by_groups(select, lead, rest, request)?,
        _ => {
            select.cond_where(cursor_bounds(keys, request)?);
            for (expr, order) in order_terms(keys, request.backward) {
                select.order_by_expr(expr, order);
            }
            Some(select.limit(request.limit + 1).to_owned())
        }
    };
    let rows = match statement {
        Some(statement) => db
            .query_all(&statement)
            .await?
            .iter()
            .map(|row| M::from_query_result(row, "").map_err(AppError::from))
            .collect::<AppResult<Vec<_>>>()?,
        None => Vec::new(),
    };
    Ok(into_page(rows, keys, &signature(keys), request))
}

/// The page of a list led by a grouping key, as one statement: each group the
/// cursors leave open is read on its own, in the order of the `rest` keys
/// and at most a page of it, and the pieces (`UNION ALL`, at most two pages
/// of rows) are put in order. Only rows between the cursors are read, so
/// each piece is one range scan of an index on the `rest` keys, in either
/// direction, where one ORDER BY over the grouping key could not use any.
/// `None` when the cursors leave no group open.
fn by_groups<M>(
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

/// `SELECT COUNT(*)` of a table under a condition.
pub async fn count_rows(
    db: &impl ConnectionTrait,
    table: impl sea_orm::sea_query::IntoTableRef,
    condition: Condition,
) -> AppResult<u64> {
    let select = Query::select()
        .expr_as(Func::count(Expr::col(Asterisk)), Alias::new("n"))
        .from(table)
        .cond_where(condition)
        .to_owned();
    let n: i64 = match db.query_one(&select).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// ORDER BY terms in fetch order.
pub fn order_terms<M>(keys: &[SortKey<M>], backward: bool) -> Vec<(Expr, Order)> {
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

/// Turns fetched rows (in fetch order, up to `limit + 1`) into a page.
pub fn into_page<M>(
    mut rows: Vec<M>,
    keys: &[SortKey<M>],
    signature: &str,
    request: &PageRequest,
) -> Page<M> {
    let has_more = rows.len() as u64 > request.limit;
    rows.truncate(request.limit as usize);
    if request.backward {
        rows.reverse();
    }
    let items = rows
        .into_iter()
        .map(|row| {
            let values = keys.iter().map(|k| (k.value_of)(&row)).collect();
            (encode_cursor(signature, values), row)
        })
        .collect();
    let (has_next_page, has_previous_page) = if request.backward {
        (request.before.is_some(), has_more)
    } else {
        (has_more, request.after.is_some())
    };
    Page {
        items,
        has_next_page,
        has_previous_page,
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
