//! Faults that wait for an event: `on = "granted:redis-1:client-0"`, with
//! `nth` and `delay_ms`.
//!
//! [`Triggers`] counts the occurrences of each trigger as events are
//! recorded and says which of the scenario's faults an event fires. It is
//! pure: the caller (the simulated world's run loop, live mode's
//! coordinator) injects what it returns.

use super::EventKind;
use crate::model::{FaultSpec, Trigger, When};
use std::collections::BTreeMap;

/// A fault an event fired: inject `spec` after `delay_ms`; `trigger` is
/// its cause.
#[derive(Clone, Debug, PartialEq)]
pub struct Fired {
    pub spec: FaultSpec,
    pub trigger: Trigger,
    pub delay_ms: u64,
}

/// The trigger counts of one run, against its scenario's faults.
#[derive(Clone, Debug, Default)]
pub struct Triggers {
    /// The faults that wait for a trigger, in scenario order.
    waiting: Vec<FaultSpec>,
    counts: BTreeMap<Trigger, u32>,
}

impl Triggers {
    /// The triggered faults of `faults` (the `at_ms` ones are not ours).
    pub fn new(faults: &[FaultSpec]) -> Triggers {
        Triggers {
            waiting: faults
                .iter()
                .filter(|f| matches!(f.when, When::On { .. }))
                .cloned()
                .collect(),
            counts: BTreeMap::new(),
        }
    }

    /// Whether any fault waits for `trigger` (so its event must be
    /// reported at once, before the process goes on).
    pub fn watches(&self, trigger: Trigger) -> bool {
        self.waiting
            .iter()
            .any(|f| matches!(f.when, When::On { trigger: t, .. } if t == trigger))
    }

    /// Counts the trigger `kind` fires, if any, and returns the faults it
    /// fires, in scenario order.
    pub fn observe(&mut self, kind: &EventKind) -> Vec<Fired> {
        let Some(trigger) = kind.trigger() else {
            return Vec::new();
        };
        if self.waiting.is_empty() {
            return Vec::new();
        }
        let n = self.counts.entry(trigger).or_insert(0);
        *n += 1;
        let count = *n;
        self.waiting
            .iter()
            .filter_map(|spec| match spec.when {
                When::On {
                    trigger: t,
                    nth,
                    delay_ms,
                } if t == trigger && nth == count => Some(Fired {
                    spec: spec.clone(),
                    trigger,
                    delay_ms,
                }),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Fault, NodeRef};

    #[test]
    fn the_nth_occurrence_fires_once() {
        let spec = FaultSpec {
            when: When::On {
                trigger: Trigger::Acquired { client: 1 },
                nth: 2,
                delay_ms: 5,
            },
            fault: Fault::Pause {
                node: NodeRef::Client(1),
                for_ms: 10,
            },
        };
        let mut t = Triggers::new(std::slice::from_ref(&spec));
        assert!(t.watches(Trigger::Acquired { client: 1 }));
        assert!(!t.watches(Trigger::Acquired { client: 0 }));
        let ok = |client| EventKind::AcquireOk {
            client,
            cycle: 0,
            value: String::new(),
            token: None,
            deadline: None,
            nodes: vec![],
        };
        assert!(t.observe(&ok(1)).is_empty());
        assert!(t.observe(&ok(0)).is_empty());
        let fired = t.observe(&ok(1));
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].delay_ms, 5);
        assert!(t.observe(&ok(1)).is_empty(), "only the 2nd occurrence");
    }
}
