//! The data set's rows, computed from their number alone: the same rows on
//! every run and on both backends, in the columns the load writes.

use chrono::{DateTime, Duration, TimeZone, Utc};
use sea_orm::Value;
use uuid::Uuid;

use super::{CATEGORIES, OWNER, TASKS};

/// The shape of a data set of `tasks` tasks: about 30 % of them are
/// sub-tasks, spread over the creation order; a tenth of those belong to
/// one of 100 "project" tasks in the middle of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataSet {
    pub(crate) tasks: u32,
}

impl Default for DataSet {
    fn default() -> Self {
        Self::new(TASKS)
    }
}

impl DataSet {
    /// Top-level tasks that hold a tenth of all sub-tasks between them, so
    /// that some parents have many (`parentId` lists worth paging).
    pub(crate) const PROJECTS: u32 = 100;

    pub fn new(tasks: u32) -> Self {
        Self { tasks }
    }

    /// The `k`-th project (0-based): in the middle of the creation order,
    /// away from the first pages the standard scenarios read.
    pub fn project(self, k: u32) -> u32 {
        self.tasks / 2 + k % Self::PROJECTS
    }

    pub(crate) fn is_project(self, n: u32) -> bool {
        (self.project(0)..self.project(0) + Self::PROJECTS).contains(&n)
    }
}

/// Task `n` (1-based): a fixed id, so pgbench can name it too.
pub fn task_id(n: u32) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | u128::from(n))
}

/// Category `n` (1-based).
pub fn category_id(n: u32) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_4000_9000_0000_0000_0000 | u128::from(n))
}

const PHRASES: [&str; 16] = [
    "Buy milk",
    "Call the plumber",
    "Write the quarterly report",
    "Book flights",
    "Renew passport",
    "Water the plants",
    "Review pull request",
    "Pay the electricity bill",
    "Plan the team offsite",
    "Fix the garden fence",
    "Prepare slides for Monday",
    "Schedule dentist appointment",
    "Clean the garage",
    "Update the budget spreadsheet",
    "Reply to Anna's email",
    "Order printer ink",
];
const TOPICS: [&str; 10] = [
    "home", "work", "errands", "garden", "kids", "health", "finance", "travel", "car", "hobby",
];

/// The loaded columns, named: a column another migration adds (a search
/// vector, say) keeps its default or whatever its trigger writes.
pub(super) const TASK_COLUMNS: [&str; 13] = [
    "id",
    "owner_id",
    "description",
    "priority",
    "start_at",
    "due_at",
    "done",
    "completed_at",
    "created_at",
    "updated_at",
    "version",
    "parent_id",
    "position",
];
pub(super) const CATEGORY_COLUMNS: [&str; 5] = ["id", "owner_id", "name", "name_key", "created_at"];
pub(super) const LINK_COLUMNS: [&str; 3] = ["task_id", "category_id", "owner_id"];

/// A cheap deterministic mix of `n`.
fn hash(n: u32) -> u32 {
    let mut x = n.wrapping_mul(0x9E37_79B1);
    x ^= x >> 15;
    x = x.wrapping_mul(0x85EB_CA77);
    x ^ (x >> 13)
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 8, 0, 0)
        .single()
        .unwrap_or_default()
}

/// The parent of task `n`, always a top-level task created before it (so
/// inserts in order never miss one), or none for about 70 % of the tasks.
pub(super) fn parent_of(set: DataSet, n: u32) -> Option<u32> {
    if n <= 1 || set.is_project(n) || hash(n ^ 0x27D4_EB2F) % 10 >= 3 {
        return None;
    }
    if n > set.project(DataSet::PROJECTS - 1) && hash(n ^ 0x5BD1_E995).is_multiple_of(10) {
        return Some(set.project(n % DataSet::PROJECTS));
    }
    let m = 1 + hash(n ^ 0x68E3_1DA4) % (n - 1);
    Some(parent_of(set, m).unwrap_or(m))
}

/// Category ids of task `n`: 0 to 3 distinct ones.
fn categories_of(n: u32) -> impl Iterator<Item = u32> {
    let k = (hash(n) >> 24) % 4;
    (0..k).map(move |j| 1 + (n * 7 + j * 331) % CATEGORIES)
}

pub(super) struct TaskRow {
    n: u32,
    description: String,
    priority: i16,
    start: Option<DateTime<Utc>>,
    due: Option<DateTime<Utc>>,
    done: bool,
    completed: Option<DateTime<Utc>>,
    created: DateTime<Utc>,
    parent: Option<u32>,
}

impl TaskRow {
    pub(super) fn new(set: DataSet, n: u32) -> Self {
        let h = hash(n);
        let created = base() + Duration::seconds(i64::from(n) * 37);
        let parent = parent_of(set, n);
        let due = ((h >> 8) % 10 < 6).then(|| {
            base() + Duration::days(i64::from((h >> 12) % 400)) + Duration::hours(i64::from(h % 10))
        });
        let done = (h >> 20) % 10 < 3;
        Self {
            n,
            description: format!("{} #{n}", PHRASES[(h % 16) as usize]),
            priority: ((h >> 4) % 4) as i16,
            start: due
                .filter(|_| (h >> 16).is_multiple_of(3))
                .map(|d| d - Duration::days(3)),
            due,
            done,
            completed: done.then(|| created + Duration::days(2)),
            created,
            parent,
        }
    }

    fn updated(&self) -> DateTime<Utc> {
        self.completed.unwrap_or(self.created)
    }

    fn version(&self) -> i32 {
        if self.done { 2 } else { 1 }
    }

    /// A manual-order key that sorts the data set in creation order within
    /// every list: the migration's backfill of row `n + 1` (`81`, four
    /// base-255 digits as bytes 0x01 to 0xff, the terminator `80`).
    fn position(&self) -> String {
        let mut value = (u64::from(self.n) + 1) * 256;
        let mut digits = [0_u64; 4];
        for digit in digits.iter_mut().rev() {
            *digit = value % 255 + 1;
            value /= 255;
        }
        format!(
            "81{:02x}{:02x}{:02x}{:02x}80",
            digits[0], digits[1], digits[2], digits[3]
        )
    }

    pub(super) fn values(&self) -> Vec<Value> {
        vec![
            task_id(self.n).into(),
            OWNER.into(),
            self.description.clone().into(),
            self.priority.into(),
            self.start.into(),
            self.due.into(),
            self.done.into(),
            self.completed.into(),
            self.created.into(),
            self.updated().into(),
            self.version().into(),
            self.parent.map(task_id).into(),
            self.position().into(),
        ]
    }

    /// One line of `COPY ... FROM STDIN` (text format; no field here holds a
    /// tab, newline or backslash).
    pub(super) fn copy_line(&self, out: &mut String) {
        use std::fmt::Write as _;
        let time = |t: Option<DateTime<Utc>>| {
            t.map_or_else(
                || "\\N".to_owned(),
                |t| t.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string(),
            )
        };
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            task_id(self.n),
            OWNER,
            self.description,
            self.priority,
            time(self.start),
            time(self.due),
            if self.done { 't' } else { 'f' },
            time(self.completed),
            time(Some(self.created)),
            time(Some(self.updated())),
            self.version(),
            self.parent
                .map_or_else(|| "\\N".to_owned(), |p| task_id(p).to_string()),
            self.position(),
        );
    }
}

pub(super) fn category_name(m: u32) -> String {
    format!("{} {m:04}", TOPICS[(m % 10) as usize])
}

pub(super) fn category_created(m: u32) -> DateTime<Utc> {
    base() + Duration::seconds(i64::from(m))
}

pub(super) fn links(set: DataSet) -> impl Iterator<Item = (u32, u32)> {
    (1..=set.tasks).flat_map(|n| categories_of(n).map(move |c| (n, c)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::bulk::MIN_TASKS;

    #[test]
    fn parents_come_before_their_children_and_are_top_level() {
        let set = DataSet::new(MIN_TASKS * 5);
        for n in 1..=set.tasks {
            if let Some(p) = parent_of(set, n) {
                assert!(p < n, "task {n}'s parent {p} comes after it");
                assert_eq!(
                    parent_of(set, p),
                    None,
                    "task {n}'s parent {p} has a parent"
                );
            }
        }
    }

    #[test]
    fn positions_sort_in_creation_order() {
        let set = DataSet::default();
        let key = |n| TaskRow::new(set, n).position();
        for n in [1, 2, 254, 255, 256, 65_000, 99_999] {
            assert!(key(n) < key(n + 1), "{n}");
        }
    }
}
