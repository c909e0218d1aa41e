//! The deploy primitives, one file each: typed parameters, typed result, live provider,
//! plan mock, documentation (the markdown in `docs/`, which `shipctl docs` prints).
//! Adding a primitive is a new file plus one line in [`registry`].

pub mod approve;
pub mod backup;
pub mod helm_rollback;
pub mod helm_upgrade;
pub mod http_check;
pub mod notify;
pub mod now;
pub mod promote_image;
pub mod restore;
pub mod tag;
pub mod wait_healthy;

use crate::effect::Registry;

/// Every built-in primitive.
pub fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.add(now::Now);
    registry.add(tag::Tag);
    registry.add(notify::Notify);
    registry.add(http_check::HttpCheck);
    registry.add(approve::Approve);
    registry.add(backup::Backup);
    registry.add(restore::Restore);
    registry.add(promote_image::PromoteImage);
    registry.add(helm_upgrade::HelmUpgrade);
    registry.add(helm_rollback::HelmRollback);
    registry.add(wait_healthy::WaitHealthy);
    registry
}
