//! Categories: names unique regardless of case, and their lists.

use std::collections::HashMap;

use entity::category;
use sea_orm::sea_query::{Condition, Expr, ExprTrait, LikeExpr, Query};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, Iterable, QueryFilter, prelude::Uuid};

use super::page::{
    Direction, KeyKind, KeyValue, ListOrder, ListQuery, Page, SortKey, count_rows, fetch_page,
};
use super::{Scoped, now};
use crate::error::{AppError, AppResult};

pub(crate) const MAX_NAME_CHARS: usize = 64;

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct CategoryFilter {
    pub(crate) search: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum CategoryOrderField {
    Name,
    CreatedAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CategoryOrder {
    pub(crate) field: CategoryOrderField,
    pub(crate) direction: Direction,
}

/// A validated category list request.
pub(crate) type CategoryListQuery = ListQuery<CategoryFilter, CategoryOrder>;

impl ListOrder for CategoryOrder {
    type Field = CategoryOrderField;
    type Model = category::Model;
    type Filter = CategoryFilter;
    const DEFAULT: Self = CategoryOrder {
        field: CategoryOrderField::Name,
        direction: Direction::Asc,
    };

    fn field(&self) -> CategoryOrderField {
        self.field
    }

    fn sort_keys(order: &[Self]) -> Vec<SortKey<category::Model>> {
        sort_keys(order)
    }
}

fn col(c: category::Column) -> Expr {
    Expr::col((category::Entity, c))
}

fn sort_keys(order: &[CategoryOrder]) -> Vec<SortKey<category::Model>> {
    let mut keys: Vec<SortKey<category::Model>> = order
        .iter()
        .map(|o| match o.field {
            // Sorting on the lower-cased key keeps the order the same on every
            // backend and collation.
            CategoryOrderField::Name => SortKey {
                expr: col(category::Column::NameKey),
                direction: o.direction,
                kind: KeyKind::Text,
                value_of: |c: &category::Model| KeyValue::Text(c.name_key.clone()),
                groups: Vec::new(),
                rebound: None,
            },
            CategoryOrderField::CreatedAt => SortKey {
                expr: col(category::Column::CreatedAt),
                direction: o.direction,
                kind: KeyKind::Time,
                value_of: |c: &category::Model| KeyValue::time(&c.created_at),
                groups: Vec::new(),
                rebound: None,
            },
        })
        .collect();
    keys.push(SortKey {
        expr: col(category::Column::Id),
        direction: order.last().map_or(Direction::Asc, |o| o.direction),
        kind: KeyKind::Uuid,
        value_of: |c: &category::Model| KeyValue::uuid(&c.id),
        groups: Vec::new(),
        rebound: None,
    });
    keys
}

/// The owner's categories that match `filter`.
fn filter_condition(owner: &str, filter: &CategoryFilter) -> Condition {
    let mut cond = Condition::all().add(col(category::Column::OwnerId).eq(owner));
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        cond = cond.add(
            col(category::Column::NameKey)
                .like(LikeExpr::new(contains_pattern(search)).escape('\\')),
        );
    }
    cond
}

pub(crate) async fn list(
    scope: &Scoped<'_>,
    query: &CategoryListQuery,
) -> AppResult<Page<category::Model>> {
    let mut select = Query::select();
    select
        .columns(category::Column::iter().map(|c| (category::Entity, c)))
        .from(category::Entity)
        .cond_where(filter_condition(scope.owner(), &query.filter));
    let keys = sort_keys(&query.order);
    scope
        .read(async |db| fetch_page(db, select, &keys, &query.page).await)
        .await
}

pub(crate) async fn count(scope: &Scoped<'_>, filter: &CategoryFilter) -> AppResult<u64> {
    let condition = filter_condition(scope.owner(), filter);
    scope
        .read(async |db| count_rows(db, category::Entity, condition).await)
        .await
}

pub(crate) async fn find_by_ids(
    scope: &Scoped<'_>,
    ids: &[Uuid],
) -> AppResult<HashMap<Uuid, category::Model>> {
    let found = scope
        .read(async |db| {
            Ok(category::Entity::find()
                .filter(category::Column::OwnerId.eq(scope.owner()))
                .filter(category::Column::Id.is_in(ids.iter().copied()))
                .all(db)
                .await?)
        })
        .await?;
    Ok(found.into_iter().map(|c| (c.id, c)).collect())
}

/// Trims and checks a name; returns it with its case-folded uniqueness key.
pub(crate) fn validate_name(name: &str) -> AppResult<(String, String)> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 {
        return Err(AppError::bad_input("name", "name must not be empty"));
    }
    if chars > MAX_NAME_CHARS {
        return Err(AppError::bad_input(
            "name",
            format!("name must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok((name.to_owned(), name.to_lowercase()))
}

fn duplicate_name(name: &str) -> AppError {
    AppError::conflict(
        Some("name"),
        format!("a category named \"{name}\" already exists"),
    )
}

pub async fn create(scope: &Scoped<'_>, name: &str) -> AppResult<category::Model> {
    let (name, name_key) = validate_name(name)?;
    let model = category::Model {
        id: Uuid::now_v7(),
        owner_id: scope.owner().to_owned(),
        name,
        name_key,
        created_at: now(),
    };
    let txn = scope.begin().await?;
    let insert = category::Entity::insert(category::ActiveModel {
        id: Set(model.id),
        owner_id: Set(model.owner_id.clone()),
        name: Set(model.name.clone()),
        name_key: Set(model.name_key.clone()),
        created_at: Set(model.created_at),
    })
    .exec_without_returning(&txn)
    .await
    .map_err(AppError::from);
    match insert {
        Ok(_) => {}
        Err(e) if e.is_unique_violation() => return Err(duplicate_name(&model.name)),
        Err(e) => return Err(e),
    }
    txn.commit().await?;
    Ok(model)
}

pub(crate) async fn rename(scope: &Scoped<'_>, id: Uuid, name: &str) -> AppResult<category::Model> {
    let (name, name_key) = validate_name(name)?;
    let txn = scope.begin().await?;
    let mut model = category::Entity::find_by_id(id)
        .filter(category::Column::OwnerId.eq(scope.owner()))
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found_in("Category", "id"))?;
    let update = category::Entity::update_many()
        .col_expr(category::Column::Name, Expr::val(name.clone()))
        .col_expr(category::Column::NameKey, Expr::val(name_key.clone()))
        .filter(category::Column::Id.eq(id))
        .filter(category::Column::OwnerId.eq(scope.owner()))
        .exec(&txn)
        .await
        .map_err(AppError::from);
    match update {
        Ok(_) => {}
        Err(e) if e.is_unique_violation() => return Err(duplicate_name(&name)),
        Err(e) => return Err(e),
    }
    txn.commit().await?;
    model.name = name;
    model.name_key = name_key;
    Ok(model)
}

/// Deletes a category; its links to tasks go with it, the tasks stay.
pub(crate) async fn delete(scope: &Scoped<'_>, id: Uuid) -> AppResult<Uuid> {
    let txn = scope.begin().await?;
    let result = category::Entity::delete_many()
        .filter(category::Column::Id.eq(id))
        .filter(category::Column::OwnerId.eq(scope.owner()))
        .exec(&txn)
        .await?;
    if result.rows_affected == 0 {
        return Err(AppError::not_found_in("Category", "id"));
    }
    txn.commit().await?;
    Ok(id)
}

/// A LIKE pattern matching `needle` anywhere, with its wildcards escaped (use
/// with `ESCAPE '\\'`), lower-cased for case-insensitive search.
pub(crate) fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
