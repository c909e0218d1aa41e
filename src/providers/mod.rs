//! Clients of the world outside shipctl, which the primitives, the release lock and
//! `shipctl backups` use: each knows one outside system and nothing about scripts.
//! A primitive decides what to do; its provider knows how to talk to the system.

pub mod archive;
pub mod backup_store;
pub mod git;
pub mod helm;
pub mod http;
pub mod kube;
pub mod oci;
pub mod postgres;
