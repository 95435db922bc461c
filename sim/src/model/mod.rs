//! The vocabulary every layer shares: nodes and roles, faults and
//! triggers, the typed scenario (what a file says, with every default
//! filled in), verdicts, clocks, the rule of the protected resource, and
//! Redis Cluster's hash slots.

pub mod clock;
pub mod custom;
pub mod fault;
pub mod memory;
pub mod node;
pub mod resource;
pub mod scenario;
pub mod slots;

pub use fault::{Fault, FaultSpec, Trigger, When};
pub use memory::MaxmemoryPolicy;
pub use node::{NodeRef, Role};
pub use resource::{ResourceOp, ResourceState, WriteOutcome};
pub use scenario::*;
