//! The `dd0c` command's library: the embedded pipeline and the commands built on it.

pub mod args;
pub mod bench;
pub mod cost;
pub mod demo;
pub mod findings_ledger;
pub mod input;
pub mod pipeline;
pub mod price_coverage;
pub mod replay;
pub mod retention;
pub mod serve;
pub mod simulate;
pub mod stacks_import;
pub mod terminal_chat;
pub mod time_shift;
