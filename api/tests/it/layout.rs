//! README's layout table names what is in the tree, and the tree holds
//! nothing it leaves out: every workspace folder and every module of
//! `api/src`.

use std::collections::BTreeSet;
use std::path::Path;

fn repository() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The paths the layout table's first column names.
fn layout_paths() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(repository().join("README.md")).expect("README.md");
    let table = readme
        .split_once("| path | what it holds |")
        .expect("README has the layout table")
        .1;
    table
        .lines()
        .skip(2) // the rest of the header line, and the separator
        .take_while(|line| line.starts_with('|'))
        .filter_map(|row| row.split('|').nth(1))
        .flat_map(|cell| {
            cell.split(',')
                .map(|p| p.trim().trim_matches('`').to_owned())
        })
        .collect()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let entry = entry.expect("entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir() {
                format!("{name}/")
            } else {
                name
            }
        })
        .collect();
    names.sort();
    names
}

#[test]
fn readme_layout_table_matches_the_tree() {
    let listed = layout_paths();
    for path in &listed {
        assert!(
            repository().join(path).exists(),
            "README's layout names {path}, which is not in the tree"
        );
    }
    // A workspace folder is listed itself or through what is in it.
    for folder in entries(repository())
        .into_iter()
        .filter(|e| e.ends_with('/') && !e.starts_with('.') && e != "target/")
    {
        assert!(
            listed.iter().any(|p| p.starts_with(&folder)),
            "{folder} is not in README's layout table"
        );
    }
    for module in entries(&repository().join("api/src")) {
        let path = format!("api/src/{module}");
        assert!(
            listed.contains(&path),
            "{path} is not in README's layout table"
        );
    }
}
