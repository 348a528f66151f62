//! The bundled demo data (`demo/` at the repository root).

use std::path::PathBuf;

/// Where the demo's CloudTrail lives: `$DD0C_DEMO_DATA`, else the repository's `demo/data`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("DD0C_DEMO_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../demo/data"))
}
