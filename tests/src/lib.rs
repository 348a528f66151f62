//! Test harness: a moto server for the AWS adapters, and helpers that create dd0c's table,
//! queues and bus on it exactly as the infrastructure declares them.

pub mod aws_setup;
pub mod moto;
