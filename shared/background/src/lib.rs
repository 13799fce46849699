//! `miroir-background`: Miroir's background work (plan §14.5), one implementation with two
//! drivers ([`Background::run`] in the container, [`Background::pass`] for the scheduled worker
//! function):
//!
//! - [`peers`]: every replica renews a membership lease in the store; the live peers are the
//!   holders; partitioned (Mode A) work goes to the rendezvous owner of each item;
//! - [`leader`]: leader-only (Mode B) work under a lease whose fencing token every write
//!   carries;
//! - task poller (Mode A by task uid): tasks complete with no client polling;
//! - pruner (Mode B): the task registry's age and size bounds, expired rows, expired job claims;
//! - job worker (Mode C): claims, heartbeats, resumable jobs; ships `reindex` (plan §13.7);
//! - [`canary`] runner (Mode A by canary id): plan §13.18's synthetic searches and assertions.

pub mod canary;
mod identity;
pub mod job;
pub mod leader;
pub mod maintenance;
pub mod peers;
pub mod poller;
pub mod reindex;
mod runtime;
pub mod worker;

pub use identity::pod_id;
pub use runtime::{Background, PassReport};
