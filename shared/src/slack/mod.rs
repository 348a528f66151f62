//! Slack: Block Kit rendering of findings and a terminal view of the same blocks.

pub mod blocks;
pub mod incident;
pub mod install;
pub mod remediation;
pub mod routing;
pub mod terminal;

pub mod settings;
#[cfg(test)]
mod tests;
pub mod web;
pub mod why;
