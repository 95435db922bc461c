//! Who holds the lock key on each Redis node, over true time, rebuilt from
//! the history alone.
//!
//! A hold starts at a `Granted` event. Its expiry is read from the command
//! that granted it (`PX`, `EX`, `PXAT`, `EXAT`, `KEEPTTL`; a Lua script
//! that calls `pexpire` or `set` gets the scenario's `ttl_ms`) and moved by
//! later `PEXPIRE`/`EXPIRE` commands and renew scripts that reply 1. The
//! expiry is an absolute time on the node's own wall clock, so it is turned
//! into true time with the node's clock as the history describes it: a
//! forward clock jump brings the expiry forward, which is exactly what the
//! Redlock clock-jump story needs to show. A hold ends when the key is
//! deleted (`DEL` replying 1, a script that calls `del` replying 1), when
//! it expires (logically, or by an `Expired` event), when another client is
//! granted the key, when the node goes down (a `Disk` load after the restart
//! that mentions the key brings it back), or when the run ends. A replica
//! copies its master's hold when it applies the master's stream.

use super::model::{Hold, HoldEnd};
use crate::history::{Event, EventKind};
use crate::model::clock::Clock;
use crate::model::NodeRef;
use crate::report::describe::{parse_command, reply_int, Cmd, Scripts};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug)]
struct Open {
    client: usize,
    from_us: u64,
    expire_wall: Option<i64>,
    expire_us: Option<u64>,
    replica: bool,
}

#[derive(Clone, Debug, Default)]
struct NodeKey {
    cur: Option<Open>,
    lost: Option<Open>,
    /// Every hold this node has had: who, and its absolute expiry.
    past: Vec<(usize, Option<i64>)>,
    last_cmd: String,
}

/// What a `Disk` load event says about `key`: `None` when the key was not
/// loaded, `Some(ttl)` when it was (`ttl` in ms if it has one). The detail
/// reads like `aof, 25 ops replayed: 1 key: lock (ttl 9952 ms)` or
/// `rdb taken 2400 ms earlier, 1 key: 0 keys; dropped expired: lock`.
pub fn loaded_key(detail: &str, key: &str) -> Option<Option<i64>> {
    let loaded = detail.split("dropped").next().unwrap_or("");
    let mut rest = loaded;
    while let Some(pos) = rest.find(key) {
        let before = rest[..pos].chars().last();
        let after = &rest[pos + key.len()..];
        let word_start = before.is_none_or(|c| c == ' ' || c == ',' || c == ':');
        let word_end = after.chars().next().is_none_or(|c| " ,;(".contains(c));
        if word_start && word_end {
            let ttl = after
                .strip_prefix(" (ttl ")
                .and_then(|t| t.split(' ').next())
                .and_then(|n| n.parse().ok());
            return Some(ttl);
        }
        rest = after;
    }
    None
}

/// What a command does to the lock key.
trait KeyEffect {
    fn touches(&self, key: &str) -> bool;
    fn expiry(&self, scripts: &Scripts, wall_ms: i64, ttl_ms: u64) -> Result<Option<i64>, ()>;
}

impl KeyEffect for Cmd<'_> {
    /// Whether the command names `key` as a key (first argument, or one of
    /// a script's KEYS).
    fn touches(&self, key: &str) -> bool {
        if self.script.is_some() {
            let n: usize = self.args.first().and_then(|s| s.parse().ok()).unwrap_or(0);
            return self.args.iter().skip(1).take(n).any(|k| *k == key);
        }
        match self.verb.as_str() {
            "DEL" | "UNLINK" => self.args.contains(&key),
            _ => self.args.first() == Some(&key),
        }
    }

    /// The absolute expiry (node wall ms) a write sets, `Ok(None)` for "no
    /// TTL", `Err(())` for "keeps the old one".
    fn expiry(&self, scripts: &Scripts, wall_ms: i64, ttl_ms: u64) -> Result<Option<i64>, ()> {
        if let Some(script) = self.script {
            let calls = scripts.calls(script);
            let sets_ttl = calls.split(',').any(|c| c == "pexpire" || c == "set");
            return Ok(sets_ttl.then_some(wall_ms + ttl_ms as i64));
        }
        let up: Vec<String> = self.args.iter().map(|a| a.to_ascii_uppercase()).collect();
        let num = |i: usize| self.args.get(i + 1).and_then(|s| s.parse::<i64>().ok());
        for (i, a) in up.iter().enumerate() {
            match a.as_str() {
                "PX" => return Ok(num(i).map(|n| wall_ms + n)),
                "EX" => return Ok(num(i).map(|n| wall_ms + n * 1000)),
                "PXAT" => return Ok(num(i)),
                "EXAT" => return Ok(num(i).map(|n| n * 1000)),
                "KEEPTTL" => return Err(()),
                _ => {}
            }
        }
        match self.verb.as_str() {
            "HSET" | "HINCRBY" | "HDEL" => Err(()),
            _ => Ok(None),
        }
    }
}

/// Rebuilds the holds of every Redis node.
pub struct Holders<'a> {
    key: &'a str,
    scripts: &'a Scripts,
    ttl_ms: u64,
    clocks: &'a BTreeMap<NodeRef, Clock>,
    nodes: Vec<NodeKey>,
    holds: Vec<Vec<Hold>>,
}

impl<'a> Holders<'a> {
    pub fn new(
        key: &'a str,
        scripts: &'a Scripts,
        ttl_ms: u64,
        nodes: usize,
        clocks: &'a BTreeMap<NodeRef, Clock>,
    ) -> Self {
        Holders {
            key,
            scripts,
            ttl_ms,
            clocks,
            nodes: vec![NodeKey::default(); nodes],
            holds: vec![Vec::new(); nodes],
        }
    }

    fn expire_us(&self, node: usize, wall: Option<i64>, from_us: u64) -> Option<u64> {
        let clock = self.clocks.get(&NodeRef::Redis(node))?;
        wall.map(|w| clock.true_us_when_wall(w.saturating_add(1), from_us))
    }

    fn close(&mut self, node: usize, at_us: u64, end: HoldEnd) -> Option<Open> {
        let open = self.nodes[node].cur.take()?;
        self.holds[node].push(Hold {
            client: open.client,
            from_us: open.from_us,
            to_us: at_us.max(open.from_us),
            end,
            replica: open.replica,
        });
        Some(open)
    }

    fn open(&mut self, node: usize, mut o: Open, at_us: u64) {
        o.from_us = at_us;
        o.expire_us = self.expire_us(node, o.expire_wall, at_us);
        self.nodes[node].past.push((o.client, o.expire_wall));
        self.nodes[node].cur = Some(o);
    }

    /// Logical expiry: a key is gone once the node's wall clock passes it.
    fn expire_until(&mut self, t_us: u64) {
        for n in 0..self.nodes.len() {
            if let Some(exp) = self.nodes[n].cur.and_then(|o| o.expire_us) {
                if exp <= t_us {
                    self.close(n, exp, HoldEnd::Expired);
                }
            }
        }
    }

    /// Feeds one event (in history order).
    pub fn event(&mut self, e: &Event) {
        self.expire_until(e.t_us);
        let t = e.t_us;
        let wall = e.wall_ms.unwrap_or(0);
        match &e.kind {
            EventKind::Command {
                node, cmd, reply, ..
            } if *node < self.nodes.len() => {
                self.nodes[*node].last_cmd.clone_from(cmd);
                self.command(*node, cmd, reply, t, wall);
            }
            EventKind::Granted { node, client } if *node < self.nodes.len() => {
                let cmd = self.nodes[*node].last_cmd.clone();
                let p = parse_command(&cmd);
                let prev = self.nodes[*node].cur;
                let expire_wall = match p.expiry(self.scripts, wall, self.ttl_ms) {
                    Ok(x) => x,
                    Err(()) => prev.and_then(|o| o.expire_wall),
                };
                if prev.is_some_and(|o| o.client == *client && !o.replica) {
                    self.set_expiry(*node, expire_wall, t);
                    return;
                }
                self.close(*node, t, HoldEnd::Replaced);
                let o = Open {
                    client: *client,
                    from_us: t,
                    expire_wall,
                    expire_us: None,
                    replica: false,
                };
                self.open(*node, o, t);
            }
            EventKind::Expired { node, key } if *node < self.nodes.len() && key == self.key => {
                self.close(*node, t, HoldEnd::Expired);
            }
            EventKind::NodeDown {
                node: NodeRef::Redis(n),
            } if *n < self.nodes.len() => {
                let lost = self.close(*n, t, HoldEnd::Crashed);
                self.nodes[*n].lost = lost;
            }
            EventKind::Disk { node, what, detail }
                if *node < self.nodes.len() && what == "load" =>
            {
                let lost = self.nodes[*node].lost.take();
                let Some(ttl) = loaded_key(detail, self.key) else {
                    return;
                };
                if self.nodes[*node].cur.is_some() {
                    return;
                }
                // Whose key it is: the hold whose absolute expiry the
                // loaded TTL points at, else the one the crash lost.
                let expire_wall = ttl.map(|ms| wall + ms);
                let owner = self.nodes[*node]
                    .past
                    .iter()
                    .rev()
                    .find(|(_, exp)| match (exp, expire_wall) {
                        (Some(a), Some(b)) => (a - b).abs() <= 2,
                        (None, None) => true,
                        _ => false,
                    })
                    .map(|(c, _)| *c)
                    .or(lost.map(|o| o.client));
                if let Some(client) = owner {
                    let o = Open {
                        client,
                        from_us: t,
                        expire_wall,
                        expire_us: None,
                        replica: lost.is_some_and(|o| o.replica),
                    };
                    self.open(*node, o, t);
                    self.expire_until(t);
                }
            }
            EventKind::Replicated { from, to, .. }
                if *from < self.nodes.len() && *to < self.nodes.len() =>
            {
                self.replicate(*from, *to, t);
            }
            EventKind::Role { node, role } if *node < self.nodes.len() => {
                if let Some(o) = self.nodes[*node].cur {
                    let replica = role != "master";
                    if o.replica != replica {
                        self.close(*node, t, HoldEnd::Replaced);
                        self.open(*node, Open { replica, ..o }, t);
                    }
                }
            }
            _ => {}
        }
    }

    fn set_expiry(&mut self, node: usize, wall: Option<i64>, t: u64) {
        let exp = self.expire_us(node, wall, t);
        let nk = &mut self.nodes[node];
        if let Some(o) = nk.cur.as_mut() {
            o.expire_wall = wall;
            o.expire_us = exp;
            nk.past.push((o.client, wall));
        }
    }

    fn command(&mut self, node: usize, cmd: &str, reply: &str, t: u64, wall: i64) {
        let p = parse_command(cmd);
        if !p.touches(self.key) {
            return;
        }
        let one = reply_int(reply) == Some(1);
        let n = |i: usize| p.args.get(i).and_then(|s| s.parse::<i64>().ok());
        match (p.verb.as_str(), p.script) {
            ("DEL" | "UNLINK", _) if reply_int(reply).is_some_and(|k| k >= 1) => {
                self.close(node, t, HoldEnd::Deleted);
            }
            (_, Some(script)) if one => {
                let calls = self.scripts.calls(script);
                if calls.split(',').any(|c| c == "del") {
                    self.close(node, t, HoldEnd::Deleted);
                } else if calls.split(',').any(|c| c == "pexpire") {
                    self.set_expiry(node, Some(wall + self.ttl_ms as i64), t);
                }
            }
            ("PEXPIRE", None) if one => self.set_expiry(node, n(1).map(|ms| wall + ms), t),
            ("EXPIRE", None) if one => self.set_expiry(node, n(1).map(|s| wall + s * 1000), t),
            ("PEXPIREAT", None) if one => self.set_expiry(node, n(1), t),
            ("EXPIREAT", None) if one => self.set_expiry(node, n(1).map(|s| s * 1000), t),
            ("PERSIST", None) if one => self.set_expiry(node, None, t),
            _ => {}
        }
    }

    fn replicate(&mut self, from: usize, to: usize, t: u64) {
        let master = self.nodes[from].cur;
        let replica = self.nodes[to].cur;
        match (master, replica) {
            (Some(m), Some(r)) if m.client == r.client && m.expire_wall == r.expire_wall => {}
            (Some(m), _) => {
                self.close(to, t, HoldEnd::Replaced);
                let copy = Open { replica: true, ..m };
                self.open(to, copy, t);
            }
            (None, Some(_)) => {
                self.close(to, t, HoldEnd::Deleted);
            }
            (None, None) => {}
        }
    }

    /// Closes what is still open at `end_us` and returns every node's holds.
    pub fn finish(mut self, end_us: u64) -> Vec<Vec<Hold>> {
        self.expire_until(end_us);
        for n in 0..self.nodes.len() {
            self.close(n, end_us, HoldEnd::RunEnded);
        }
        self.holds
    }
}

#[cfg(test)]
mod tests {
    use super::loaded_key;

    #[test]
    fn load_details_say_whether_the_key_came_back() {
        assert_eq!(
            loaded_key("aof, 25 ops replayed: 1 key: lock (ttl 9952 ms)", "lock"),
            Some(Some(9952))
        );
        assert_eq!(
            loaded_key(
                "rdb taken 2400 ms earlier, 1 key: 0 keys; dropped expired: lock",
                "lock"
            ),
            None
        );
        assert_eq!(loaded_key("aof: 2 keys: fence, lock", "lock"), Some(None));
        assert_eq!(loaded_key("aof: 1 key: lockx (ttl 5 ms)", "lock"), None);
    }
}
