//! Integration tests: the library and the built binary against real git repositories,
//! real HTTP servers and a Kubernetes API stand-in on loopback (driven by the real helm
//! and kubectl too), all in temporary directories.

mod approve;
mod backup;
mod bundled;
mod ci;
mod cli;
mod command_line;
mod errors;
mod fake_tool;
mod fixtures;
mod fuzz;
mod helm;
mod hostile_limits;
mod hostile_names;
mod hostile_native;
mod hostile_paths;
mod hostile_secrets;
mod interrupt;
mod journal;
mod kube_conventions;
mod kube_support;
mod needs;
mod notify_http;
mod plan_refresh;
mod postgres;
mod progress;
mod promote;
mod real_cluster;
mod refresh_overlap;
mod registry;
mod release_lock;
mod replay;
mod resume;
mod sandbox;
mod script_tests;
mod shapes;
mod snapshots_errors;
mod snapshots_plans;
mod standin;
mod support;
mod tag;
mod wait_healthy;
mod watch;
