//! dd0c's shared library: the domain model, the ports (table, queue, bus, chat, clock) and
//! their adapters, the SQS batch semantics every consumer shares, and telemetry.
//!
//! The production adapters over the AWS SDK are behind the `aws` feature.

pub mod batch;
pub mod bus;
pub mod chat;
pub mod clock;
pub mod domain;
pub mod entity;
pub mod queue;
pub mod store;
pub mod telemetry;

pub mod accounts;
pub mod auth;
#[cfg(feature = "aws")]
pub mod config;
pub mod crypto;
pub mod detector;
pub mod feedback;
pub mod finding_actions;
pub mod flags;
pub mod forwarding;
pub mod governance;
pub mod http;
pub mod http_routes;
pub mod incidents;
pub mod json;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod meter;
pub mod pricing;
pub mod remediation;
pub mod secrets;
pub mod signatures;
pub mod slack;
pub mod tenancy;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
