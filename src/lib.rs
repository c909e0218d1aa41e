//! shipctl: run release procedures written as Rhai scripts.
//!
//! The only road from a script to the world runs through [`effect`]: every primitive
//! call becomes an [`effect::Effect`], passes the choke point ([`effect::Gate`]) and is
//! handed to the executor of the run (live or plan). See `src/README.md` for a map of
//! the modules.

pub mod base;
pub mod cli;
pub mod config;
pub mod effect;
pub mod engine;
pub mod error;
pub mod exit_codes;
pub mod journal;
pub mod primitives;
pub mod providers;
pub mod run;
pub mod testing;
pub mod watch;
