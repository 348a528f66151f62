//! Golden files: text a test compares its output with, kept in the repository so a change
//! shows in review. One convention everywhere: `DD0C_UPDATE_GOLDEN=1 cargo test …` rewrites
//! the files a run compares, and the failure message says so.

use std::path::Path;

/// The variable that makes [`check`] write instead of compare.
pub const UPDATE_VARIABLE: &str = "DD0C_UPDATE_GOLDEN";

/// Compares `actual` with the file at `path`, or rewrites the file when
/// `DD0C_UPDATE_GOLDEN` is set. Panics with a diff hint when they differ.
pub fn check(path: &Path, actual: &str) {
    if std::env::var_os(UPDATE_VARIABLE).is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("golden directory");
        }
        std::fs::write(path, actual).expect("golden file written");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with {UPDATE_VARIABLE}=1 to create it)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from what the code produces ({UPDATE_VARIABLE}=1 rewrites it, then review the diff)\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}
