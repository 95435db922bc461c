//! Replica elections (`clusterHandleSlaveFailover`, `clusterGetSlaveRank`,
//! `clusterSendFailoverAuthIfNeeded`): the rules are in the parent
//! module's docs.

use super::{Change, Cluster, Due, Election, StepEnv, REPL_PING_PERIOD_US, VALIDITY_FACTOR};

impl Cluster {
    /// Replicas of failed masters schedule, hold and win elections.
    pub(super) fn elections(
        &mut self,
        env: &mut StepEnv,
        changes: &mut Vec<Change>,
        due: &mut Due,
    ) {
        let (l, now, timeout) = (env.liveness, env.now_us, self.timeout_us);
        let auth_timeout = (2 * timeout).max(2_000_000);
        let auth_retry = 2 * auth_timeout;
        for i in 0..self.nodes.len() {
            let Some(m) = self.nodes[i].replica_of else {
                continue;
            };
            if !self.runs(l, i) || self.peer(i, m).fail_us.is_none() {
                continue;
            }
            let s = self.shard_of[m];
            if self.nodes[i].owners[s].0 != m {
                continue;
            }
            let p = self.nodes[i].proc.as_ref().expect("running");
            let mut age = p.master_lost_us.map_or(0, |t| now - t);
            if age > timeout {
                age -= timeout;
            }
            if age > REPL_PING_PERIOD_US + timeout * VALIDITY_FACTOR {
                continue;
            }
            let rank = self.rank(i, m, env.offsets);
            let p = self.nodes[i].proc.as_ref().expect("running");
            let mut e = match p.election {
                Some(e) if now <= e.at_us + auth_retry => e,
                _ => {
                    let delay_us = 500_000 + (env.rand)(500) * 1000 + rank * 1_000_000;
                    let e = Election {
                        at_us: now + delay_us,
                        rank,
                        sent: false,
                    };
                    self.proc_mut(i).election = Some(e);
                    due.at(e.at_us);
                    continue;
                }
            };
            if e.sent {
                due.at(e.at_us + auth_retry + 1);
                continue;
            }
            if rank > e.rank {
                e.at_us += (rank - e.rank) * 1_000_000;
                e.rank = rank;
            }
            if now < e.at_us {
                self.proc_mut(i).election = Some(e);
                due.at(e.at_us);
                continue;
            }
            e.sent = true;
            self.proc_mut(i).election = Some(e);
            due.at(e.at_us + auth_retry + 1);
            if now > e.at_us + auth_timeout {
                continue;
            }
            self.nodes[i].current_epoch += 1;
            let epoch = self.nodes[i].current_epoch;
            let votes = self.collect_votes(env, i, m, epoch);
            let needed = self.quorum();
            changes.push(Change::Election {
                node: i,
                epoch,
                votes,
                needed,
            });
            if votes >= needed {
                let node = &mut self.nodes[i];
                node.owners[s] = (i, epoch);
                node.replica_of = None;
                changes.push(Change::Promoted {
                    node: i,
                    old_master: m,
                });
                changes.push(Change::Role { node: i, of: None });
            }
        }
    }

    /// How many other replicas of `m` have applied more than `i`.
    fn rank(&self, i: usize, m: usize, offsets: &[Option<u64>]) -> u64 {
        let mine = offsets.get(i).copied().flatten().unwrap_or(0);
        (0..self.nodes.len())
            .filter(|&r| r != i && self.nodes[r].replica_of == Some(m))
            .filter(|&r| offsets.get(r).copied().flatten().unwrap_or(0) > mine)
            .count() as u64
    }

    /// Every master in contact decides on `i`'s request for `epoch`.
    fn collect_votes(&mut self, env: &StepEnv, i: usize, m: usize, epoch: u64) -> usize {
        let (l, now, s) = (env.liveness, env.now_us, self.shard_of[m]);
        let claimed = self.nodes[i].owners[s].1;
        let mut votes = 0;
        for v in 0..self.nodes.len() {
            if !self.contact(l, i, v) {
                continue;
            }
            let node = &mut self.nodes[v];
            node.current_epoch = node.current_epoch.max(epoch);
            let serves = node.replica_of.is_none();
            let p = node.proc.as_ref().expect("running");
            let fresh = p
                .voted_us
                .get(&m)
                .is_none_or(|&t| now >= t + 2 * self.timeout_us);
            if serves
                && node.current_epoch == epoch
                && node.last_vote_epoch != epoch
                && p.peers[m].fail_us.is_some()
                && fresh
                && node.owners[s].1 <= claimed
            {
                node.last_vote_epoch = epoch;
                node.proc.as_mut().expect("running").voted_us.insert(m, now);
                votes += 1;
            }
        }
        votes
    }
}
