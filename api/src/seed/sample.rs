//! The sample `api seed` writes, drawn from a seeded generator: the same
//! seed and the same day give the same tasks, on any machine.

use chrono::{DateTime, Duration, Utc};
use entity::Priority;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The sample's categories, each with what its tasks say.
pub(crate) const CATEGORIES: &[(&str, &[&str])] = &[
    (
        "Work",
        &[
            "Review the quarterly report",
            "Prepare slides for the team meeting",
            "Reply to the client's email about the contract",
            "Update the project roadmap",
            "Write the release notes",
            "Fix the flaky login test",
            "Plan the next sprint",
            "Book a room for the retrospective",
            "Send the invoice to Acme",
            "Review Maria's pull request",
        ],
    ),
    (
        "Home",
        &[
            "Clean the gutters",
            "Fix the dripping kitchen tap",
            "Vacuum the living room",
            "Replace the smoke alarm battery",
            "Sort out the recycling",
            "Water the plants",
            "Defrost the freezer",
            "Hang the picture in the hallway",
            "Wash the windows",
        ],
    ),
    (
        "Errands",
        &[
            "Buy milk and bread",
            "Pick up the dry cleaning",
            "Return the library books",
            "Post the parcel to Grandma",
            "Buy a birthday card for Sam",
            "Get the car washed",
            "Collect the photos from the print shop",
            "Drop off the old clothes at the charity shop",
        ],
    ),
    (
        "Health",
        &[
            "Book a dentist appointment",
            "Refill the prescription",
            "Go for a 5 km run",
            "Schedule the annual check-up",
            "Stretch for 15 minutes",
            "Try the new yoga class",
            "Renew the gym membership",
        ],
    ),
    (
        "Finance",
        &[
            "Pay the electricity bill",
            "File the tax return",
            "Check the bank statement",
            "Renew the car insurance",
            "Set up a monthly savings transfer",
            "Cancel the unused streaming subscription",
            "Compare mortgage offers",
        ],
    ),
    (
        "Learning",
        &[
            "Read a chapter of the Rust book",
            "Practise Spanish for 20 minutes",
            "Watch the conference talk on databases",
            "Finish the online course module",
            "Write notes on the GraphQL spec",
            "Try the new chess opening",
        ],
    ),
];

/// When the sample says when: some tasks get one, most do not.
const WHEN: &[&str] = &[
    "this week",
    "before Friday",
    "this weekend",
    "tomorrow morning",
    "by the end of the month",
];

/// What the steps of a larger task say.
const STEPS: &[&str] = &[
    "Make a list of what is needed",
    "Check the budget",
    "Ask Alex for advice",
    "Set a reminder",
    "Find a free slot in the calendar",
    "Compare the options",
    "Confirm with everyone involved",
    "Double-check the details",
    "Note what is left to do",
];

/// One task to create, in creation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SampleTask {
    pub(crate) description: String,
    pub(crate) priority: Priority,
    pub(crate) start_at: Option<DateTime<Utc>>,
    pub(crate) due_at: Option<DateTime<Utc>>,
    /// Index (into the sample) of the parent, always an earlier task.
    pub(crate) parent: Option<usize>,
    /// Indexes into [`CATEGORIES`].
    pub(crate) categories: Vec<usize>,
    pub(crate) done: bool,
}

/// `count` tasks: a quarter of the top-level ones broken into one to three
/// steps; most in one category, some in two; priorities, start and due
/// dates around `today` (some overdue), about a quarter done.
pub(crate) fn tasks(seed: u64, count: usize, today: DateTime<Utc>) -> Vec<SampleTask> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut tasks = Vec::with_capacity(count);
    while tasks.len() < count {
        let parent = tasks.len();
        tasks.push(top_level(&mut rng, today));
        if rng.random_bool(0.25) {
            let steps = rng.random_range(1..=3).min(count - tasks.len());
            for _ in 0..steps {
                let step = sub_task(&mut rng, &tasks[parent], parent);
                tasks.push(step);
            }
        }
    }
    tasks
}

fn top_level(rng: &mut ChaCha8Rng, today: DateTime<Utc>) -> SampleTask {
    let category = rng.random_range(0..CATEGORIES.len());
    let phrases = CATEGORIES[category].1;
    let mut description = phrases[rng.random_range(0..phrases.len())].to_owned();
    if rng.random_bool(0.25) {
        description.push(' ');
        description.push_str(WHEN[rng.random_range(0..WHEN.len())]);
    }
    let mut categories = vec![category];
    if rng.random_bool(0.15) {
        let other = rng.random_range(0..CATEGORIES.len());
        if other != category {
            categories.push(other);
        }
    }
    let due_at = rng
        .random_bool(0.65)
        .then(|| today + Duration::days(rng.random_range(-14..=45)) + Duration::hours(17));
    let start_at = due_at
        .filter(|_| rng.random_bool(0.3))
        .map(|due| due - Duration::days(rng.random_range(1..=7)) - Duration::hours(8));
    let overdue = due_at.is_some_and(|due| due < today);
    SampleTask {
        description,
        priority: priority(rng),
        start_at,
        due_at,
        parent: None,
        categories,
        // What was due is more often done.
        done: rng.random_bool(if overdue { 0.6 } else { 0.2 }),
    }
}

fn sub_task(rng: &mut ChaCha8Rng, parent: &SampleTask, index: usize) -> SampleTask {
    SampleTask {
        description: STEPS[rng.random_range(0..STEPS.len())].to_owned(),
        priority: parent.priority,
        start_at: None,
        // A step is due when its task is, or a day or two before.
        due_at: parent
            .due_at
            .map(|due| due - Duration::days(rng.random_range(0..=2))),
        parent: Some(index),
        categories: Vec::new(),
        done: parent.done || rng.random_bool(0.3),
    }
}

fn priority(rng: &mut ChaCha8Rng) -> Priority {
    match rng.random_range(0..100) {
        0..35 => Priority::None,
        35..60 => Priority::Low,
        60..85 => Priority::Medium,
        _ => Priority::High,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn today() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_sample() {
        assert_eq!(tasks(7, 300, today()), tasks(7, 300, today()));
        assert_ne!(tasks(7, 300, today()), tasks(8, 300, today()));
    }

    #[test]
    fn a_sample_has_every_kind_of_task() {
        let sample = tasks(1, 500, today());
        assert_eq!(sample.len(), 500);
        for (i, task) in sample.iter().enumerate() {
            assert!(task.parent.is_none_or(|p| p < i), "parent after its child");
            if let (Some(start), Some(due)) = (task.start_at, task.due_at) {
                assert!(start <= due, "{task:?}");
            }
        }
        let count = |f: &dyn Fn(&SampleTask) -> bool| sample.iter().filter(|t| f(t)).count();
        assert!(count(&|t| t.parent.is_some()) > 50);
        assert!(count(&|t| t.parent.is_none()) > 250);
        assert!(count(&|t| t.done) > 50);
        assert!(count(&|t| !t.done) > 200);
        assert!(count(&|t| t.due_at.is_some_and(|d| d < today())) > 20);
        assert!(count(&|t| t.due_at.is_some_and(|d| d > today())) > 100);
        assert!(count(&|t| t.start_at.is_some()) > 20);
        assert!(count(&|t| t.categories.len() == 2) > 10);
        assert!(count(&|t| t.priority == Priority::High) > 20);
        for (c, (name, _)) in CATEGORIES.iter().enumerate() {
            assert!(count(&|t| t.categories.contains(&c)) > 10, "{name}");
        }
    }
}
