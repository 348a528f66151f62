//! Incidents in the table: which incident a finding joins ([`assign`]) and acting on all of
//! an incident's findings at once ([`actions`]). The incident itself is
//! [`crate::domain::incident`]; its items are [`crate::entity::incident`].

pub mod actions;
pub mod assign;

pub use actions::{act_on_incident, IncidentOutcome};
pub use assign::{assign, Assigned};
