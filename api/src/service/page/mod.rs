//! Relay-style keyset pagination shared by every list.
//!
//! A cursor holds the sort-key values of the row it points at, plus a signature of
//! the sort order it was made for, so a page boundary stays put while rows are
//! inserted elsewhere and a cursor cannot silently be reused with another order
//! (`cursor.rs`); the bounds and order that read a page are in `keyset.rs`.

mod cursor;
mod keyset;

use sea_orm::sea_query::{Alias, Asterisk, Condition, Expr, Func, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, FromQueryResult, Value};
use std::sync::Arc;

use cursor::decode_cursor;
pub(crate) use cursor::{KeyValue, encode_cursor, signature};
use keyset::by_groups;
pub(crate) use keyset::{cursor_bounds, order_terms};

use crate::error::{AppError, AppResult};

pub(crate) const DEFAULT_PAGE_SIZE: u64 = 20;
pub(crate) const MAX_PAGE_SIZE: u64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    #[default]
    Asc,
    Desc,
}

impl Direction {
    pub(super) fn flip(self) -> Self {
        match self {
            Self::Asc => Self::Desc,
            Self::Desc => Self::Asc,
        }
    }

    pub(super) fn order(self) -> Order {
        match self {
            Self::Asc => Order::Asc,
            Self::Desc => Order::Desc,
        }
    }
}

/// Pagination arguments exactly as a client sent them.
#[derive(Debug, Clone, Default)]
pub(crate) struct PageArgs {
    pub(crate) first: Option<i32>,
    pub(crate) after: Option<String>,
    pub(crate) last: Option<i32>,
    pub(crate) before: Option<String>,
}

impl PageArgs {
    pub(crate) fn new(
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

/// How a sort key's cursor value is bound back into SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum KeyKind {
    Time,
    Int,
    Text,
    Uuid,
    Float,
}

/// Turns a key's cursor value into the bound a page starts from, given the
/// bound values of all the cursor's keys: for a key whose kept value can go
/// stale (see `search::SearchSql::rebound`).
pub(crate) type Rebound = Arc<dyn Fn(Value, &[Option<Value>]) -> Expr + Send + Sync>;

/// One ORDER BY term of a list, and how to read its value off a row.
pub struct SortKey<M> {
    pub(crate) expr: Expr,
    pub(crate) direction: Direction,
    pub(crate) kind: KeyKind,
    pub(crate) value_of: fn(&M) -> KeyValue,
    /// For an `Int` key with few values, each value with the condition its
    /// rows meet (the "has no due date" flag before a nullable column; the
    /// priorities a filter admits): a list led by it is read one value at a
    /// time, where every later key is a plain range of an index. Empty for
    /// other keys.
    pub(crate) groups: Vec<(i64, Condition)>,
    /// `None`: the cursor's value is the bound.
    pub(crate) rebound: Option<Rebound>,
}

/// A validated page request: limit, direction and decoded cursor bounds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PageRequest {
    pub(crate) limit: u64,
    /// `last`/`before` pagination: rows are fetched in reverse and flipped back.
    pub(crate) backward: bool,
    pub(crate) after: Option<Vec<KeyValue>>,
    pub(crate) before: Option<Vec<KeyValue>>,
}

impl PageRequest {
    /// Validates `args` for a list sorted by keys with the given signature.
    pub(crate) fn new(args: &PageArgs, signature: &str) -> AppResult<Self> {
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
    pub(crate) filter: F,
    pub(crate) order: Vec<O>,
    pub(crate) page: PageRequest,
}

impl<F, O: ListOrder<Filter = F>> ListQuery<F, O> {
    /// Checks the page against the order it is for (cursors name their
    /// order), after [`normalise`].
    pub(crate) fn new(filter: F, order: Vec<O>, args: &PageArgs) -> AppResult<Self> {
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
pub(crate) fn normalise<O: ListOrder>(order: Vec<O>) -> Vec<O> {
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

/// A page of rows with their cursors.
#[derive(Debug, Clone)]
pub struct Page<M> {
    pub(crate) items: Vec<(String, M)>,
    pub(crate) has_next_page: bool,
    pub(crate) has_previous_page: bool,
}

impl<M> Page<M> {
    pub(crate) fn empty() -> Self {
        Self {
            items: Vec::new(),
            has_next_page: false,
            has_previous_page: false,
        }
    }

    /// The same page (cursors included) of what `f` makes of each row.
    pub(crate) fn map<N>(self, f: impl Fn(M) -> N) -> Page<N> {
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

/// Runs `select` (columns, FROM and filters set) as one page: adds the cursor
/// bounds, the order and the limit, and builds the page with its cursors.
pub(crate) async fn fetch_page<M: FromQueryResult>(
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

/// How many rows a list has across its pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// Every matching row, or when not `exact` the limit counting stopped at.
    pub n: u64,
    /// False when more than `n` match.
    pub exact: bool,
}

impl Count {
    pub(crate) fn exact(n: u64) -> Self {
        Self { n, exact: true }
    }
}

/// Counts what `select` reads, stopping past `limit` rows: what it costs
/// grows with `limit`, not with how many match.
pub(crate) async fn count_up_to(
    db: &impl ConnectionTrait,
    mut select: SelectStatement,
    limit: u64,
) -> AppResult<Count> {
    select.clear_selects().expr(Expr::val(1)).limit(limit + 1);
    let n = count_read(db, select).await?;
    Ok(Count {
        n: n.min(limit),
        exact: n <= limit,
    })
}

/// How many rows `rows` reads (a LIMIT in it bounds the count).
pub(crate) async fn count_read(db: &impl ConnectionTrait, rows: SelectStatement) -> AppResult<u64> {
    let mut select = Query::select();
    select.from_subquery(rows, Alias::new("counted"));
    count_of(db, select).await
}

/// `SELECT COUNT(*)` of a table under a condition.
pub(crate) async fn count_rows(
    db: &impl ConnectionTrait,
    table: impl sea_orm::sea_query::IntoTableRef,
    condition: Condition,
) -> AppResult<u64> {
    let mut select = Query::select();
    select.from(table).cond_where(condition);
    count_of(db, select).await
}

/// Runs `select` (its FROM and filters set) as `SELECT COUNT(*)`.
async fn count_of(db: &impl ConnectionTrait, mut select: SelectStatement) -> AppResult<u64> {
    select.expr_as(Func::count(Expr::col(Asterisk)), Alias::new("n"));
    let n: i64 = match db.query_one(&select).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Turns fetched rows (in fetch order, up to `limit + 1`) into a page.
pub(crate) fn into_page<M>(
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
