//! The daily digest: per tenant, what started costing in the last 24 hours, anomalies open vs
//! resolved, what governance held, drift per stack, top actors, and the zombie watch (each
//! account's latest zombie scan: when it ran — stale after 48 hours, or never — what it found
//! in which regions, the monthly cost at stake, and the tenant's total); and the tenant's
//! housekeeping: expired snoozes are reopened, accounts past their new-account strict period
//! are promoted to audit, accounts disconnecting for more than 72 hours are purged.
//!
//! EventBridge Scheduler invokes the function every hour at minute 0 UTC with a tick
//! ([`run_tick`]): every tenant's housekeeping runs on every tick, the daily zombie scan of each
//! connected account whose latest scan of every region is missing or 23 hours old is asked for
//! (a request on the `zombies` queue, scanned by the API function:
//! docs/decisions/0620-daily-zombie-scan.md), and a tenant's digest goes out on the tick whose
//! hour, in the tenant's digest time zone, is the tenant's digest hour (09:00 UTC by default),
//! at most once per local date (docs/decisions/0700-hourly-digest-tick.md).

mod build;
mod error;
mod handler;
mod housekeeping;
mod render;
mod run;
mod tick;
mod zombie_watch;

pub use build::{build_digest, Digest, StackLine};
pub use error::DigestError;
pub use handler::{handle, Invocation};
pub use housekeeping::{Housekeeping, PURGE_AFTER_HOURS};
pub use render::digest_blocks;
pub use run::{run_digest, DigestRun};
pub use tick::{digest_due, run_tick, TenantFailure, Tick, TickReport, DIGEST_MARKER_TTL_DAYS};
pub use zombie_watch::{
    queue_due_scans, zombie_lines, ZombieLine, SCAN_DUE_AFTER_HOURS, SCAN_STALE_AFTER_HOURS,
};
