//! A category or due-date filter that leaves thousands of tasks is read
//! another way than one that leaves a few (walking the order's index rather
//! than reading the matches and sorting them); both ways list the same rows
//! in the same order, page after page.

use chrono::{DateTime, Duration, TimeZone, Utc};
use entity::{category, task, task_category};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, prelude::Uuid};
use serde_json::{Value, json};

use crate::common::{TestApp, descriptions};

crate::on_both_backends!(wide_and_narrow_filters_list_the_same_rows);

/// More than the api reads at once and sorts, for either filter.
const MANY: usize = 4100;

const PAGE: &str = "query($filter: TaskFilter, $orderBy: [TaskOrder!], $after: String) {
  tasks(first: 100, filter: $filter, orderBy: $orderBy, after: $after) {
    totalCount nodes { description } pageInfo { hasNextPage endCursor } } }";

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .expect("date")
        + Duration::seconds(seconds)
}

/// Every page of a list, and its totalCount.
async fn walk(app: &TestApp, filter: Value, order: Value) -> (Vec<String>, Value) {
    let mut vars = json!({ "filter": filter, "orderBy": order });
    let mut seen = Vec::new();
    loop {
        let page = app.data(PAGE, vars.clone()).await["tasks"].clone();
        seen.extend(descriptions(&page));
        if page["pageInfo"]["hasNextPage"] == false {
            return (seen, page["totalCount"].clone());
        }
        vars["after"] = page["pageInfo"]["endCursor"].clone();
    }
}

async fn wide_and_narrow_filters_list_the_same_rows(app: TestApp) {
    let big = app.create_category("Big").await;
    let small = app.create_category("Small").await;
    let category_id = |name: &str| {
        let db = app.db.clone();
        let name = name.to_owned();
        async move {
            category::Entity::find()
                .filter(category::Column::Name.eq(name))
                .one(&db)
                .await
                .expect("category")
                .expect("exists")
                .id
        }
    };
    let (big_id, small_id) = (category_id("Big").await, category_id("Small").await);

    // Arranged in bulk, straight in the database: task n is created at n
    // seconds, due at n seconds a day later, linked to Big; every 1000th
    // also to Small.
    let tasks: Vec<task::ActiveModel> = (0..MANY)
        .map(|n| {
            let created = at(n as i64);
            task::ActiveModel {
                id: Set(Uuid::now_v7()),
                owner_id: Set(migration::SINGLE_USER_OWNER.to_owned()),
                description: Set(format!("bulk {n:04}")),
                priority: Set(entity::Priority::None),
                start_at: Set(None),
                due_at: Set(Some(created + Duration::days(1))),
                done: Set(false),
                completed_at: Set(None),
                created_at: Set(created),
                updated_at: Set(created),
                version: Set(1),
                parent_id: Set(None),
                recurrence: Set(None),
                time_zone: Set(None),
                series_start: Set(None),
                next_occurrence_id: Set(None),
                remind_at: Set(None),
                reminded_at: Set(None),
                // Distinct and in creation order: 81, four digits, 80.
                position: Set(format!("81{:08x}80", 0x0101_0101 + n)),
            }
        })
        .collect();
    let mut links = Vec::new();
    for (n, t) in tasks.iter().enumerate() {
        let id = t.id.clone().unwrap();
        for (category, every) in [(big_id, 1), (small_id, 1000)] {
            if n % every == 0 {
                links.push(task_category::ActiveModel {
                    task_id: Set(id),
                    category_id: Set(category),
                    owner_id: Set(migration::SINGLE_USER_OWNER.to_owned()),
                });
            }
        }
    }
    for chunk in tasks.chunks(500) {
        task::Entity::insert_many(chunk.to_vec())
            .exec(&app.db)
            .await
            .expect("tasks");
    }
    for chunk in links.chunks(500) {
        task_category::Entity::insert_many(chunk.to_vec())
            .exec(&app.db)
            .await
            .expect("links");
    }

    let all: Vec<String> = (0..MANY).map(|n| format!("bulk {n:04}")).collect();
    let newest_first: Vec<String> = all.iter().rev().cloned().collect();
    let every_1000th: Vec<String> = all.iter().step_by(1000).cloned().collect();
    let (from, to) = (at(86_400 - 1), at(86_400 + MANY as i64));
    let window = json!({ "dueAfter": from, "dueBefore": to });
    let narrow = json!({ "dueAfter": from, "dueBefore": at(86_400 + 3) });
    let created = |direction: &str| json!([{ "field": "CREATED_AT", "direction": direction }]);
    let due = |direction: &str| json!([{ "field": "DUE_AT", "direction": direction }]);
    let big = json!({ "categoryIds": [big["id"]] });
    let small = json!({ "categoryIds": [small["id"]] });
    let cases = [
        (big.clone(), created("ASC"), all.clone()),
        (big.clone(), created("DESC"), newest_first.clone()),
        (big, due("DESC"), newest_first.clone()),
        (
            small.clone(),
            created("DESC"),
            every_1000th.iter().rev().cloned().collect(),
        ),
        (small, due("ASC"), every_1000th.clone()),
        (window.clone(), created("ASC"), all.clone()),
        (window.clone(), created("DESC"), newest_first.clone()),
        (window, due("DESC"), newest_first),
        (narrow.clone(), created("ASC"), all[..3].to_vec()),
        (
            narrow,
            due("DESC"),
            all[..3].iter().rev().cloned().collect(),
        ),
    ];
    for (filter, order, expected) in cases {
        let (seen, total) = walk(&app, filter.clone(), order.clone()).await;
        assert_eq!(seen, expected, "{filter} {order}");
        assert_eq!(total, expected.len(), "{filter} {order}");
    }

    // The wide window was walked, each task tested against it.
    let (_, statements) = app
        .count_statements(app.data(
            PAGE,
            json!({ "filter": { "dueBefore": to }, "orderBy": created("ASC") }),
        ))
        .await;
    assert!(
        statements.iter().any(|s| s.contains("= (TRUE)")),
        "{statements:#?}"
    );
}
