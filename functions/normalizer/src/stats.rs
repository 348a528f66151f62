use std::collections::BTreeMap;
use std::sync::Mutex;

/// Counts of what happened to each record, by outcome (for the replay summary and metrics).
#[derive(Debug, Default)]
pub struct Stats(Mutex<BTreeMap<String, u64>>);

impl Stats {
    pub fn count(&self, outcome: &str) {
        *self
            .0
            .lock()
            .expect("stats lock")
            .entry(outcome.to_owned())
            .or_default() += 1;
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().expect("stats lock").clone()
    }
}
