//! EVAL, EVALSHA and SCRIPT at the node level, and `#!lua` shebang flags.
//!
//! A script's writes are not propagated as the EVAL itself but as their
//! effects (Redis 7.0 always replicates scripts by effects), collected
//! with the lazy `DEL`s the script triggered and wrapped in MULTI/EXEC by
//! [`RedisNode::execute`] when there is more than one.

use super::cli::split_args;
use super::cluster::{command_slot, KeySlot, ScriptCluster, NO_CLUSTER_ERR};
use super::commands::{error_line, int_arg, Cmd, NOSCRIPT_ERR};
use super::keyspace::{ExpiryMode, Keyspace};
use super::lua::{LuaEngine, RunParams, ScriptFlags};
use super::node::{RedisNode, Role};
use locksim_models::protocol::{Argv, Reply};

const SCRIPT_FLAGS: [&[u8]; 5] = [
    b"no-writes",
    b"allow-oom",
    b"allow-stale",
    b"no-cluster",
    b"allow-cross-slot-keys",
];

fn shebang_error(prefix: &str, what: &[u8]) -> Reply {
    let mut line = prefix.as_bytes().to_vec();
    line.extend_from_slice(what);
    error_line(&line)
}

/// Redis's `evalExtractShebangFlags`: the flags and the length of the
/// shebang line (0 without one).
pub(crate) fn parse_shebang(body: &[u8]) -> Result<(ScriptFlags, usize), Reply> {
    if !body.starts_with(b"#!") {
        let compat = ScriptFlags {
            compat: true,
            ..ScriptFlags::default()
        };
        return Ok((compat, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err(Reply::error("ERR Invalid script shebang"));
    };
    let parts = match split_args(&body[..end]) {
        Some(parts) if !parts.is_empty() => parts,
        _ => return Err(Reply::error("ERR Invalid engine in script shebang")),
    };
    if parts[0] != b"#!lua" {
        return Err(shebang_error(
            "ERR Unexpected engine in script shebang: ",
            &parts[0],
        ));
    }
    let mut flags = ScriptFlags::default();
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(shebang_error("ERR Unknown lua shebang option: ", part));
        };
        if list.is_empty() {
            continue;
        }
        for flag in list.split(|&b| b == b',') {
            if !SCRIPT_FLAGS.contains(&flag) {
                return Err(shebang_error(
                    "ERR Unexpected flag in script shebang: ",
                    flag,
                ));
            }
            match flag {
                b"no-writes" => flags.no_writes = true,
                b"allow-cross-slot-keys" => flags.allow_cross_slot = true,
                b"no-cluster" => flags.no_cluster = true,
                _ => {}
            }
            if flag == b"allow-oom" {
                flags.allow_oom = true;
            }
        }
    }
    Ok((flags, end))
}

/// Redis lowercases A-Z of an EVALSHA / SCRIPT EXISTS digest.
fn lower_sha(sha: &[u8]) -> String {
    String::from_utf8_lossy(&sha.to_ascii_lowercase()).into_owned()
}

/// Compiles and caches `body` unless it is cached already (counted in
/// `ks`'s memory when new); its flags.
fn create(
    engine: &mut LuaEngine,
    ks: &mut Keyspace,
    sha: &str,
    body: &[u8],
) -> Result<ScriptFlags, Reply> {
    if let Some(flags) = engine.flags(sha) {
        return Ok(flags);
    }
    let (flags, skip) = parse_shebang(body)?;
    engine.compile(sha, body, skip, flags)?;
    ks.note_script(body);
    Ok(flags)
}

impl RedisNode {
    /// For a replica's READONLY check (Redis's `evalGetCommandFlags`): does
    /// this EVAL / EVALSHA run a shebang script without `no-writes`?
    pub(super) fn script_may_write(&mut self, argv: &[Vec<u8>], evalsha: bool) -> bool {
        self.declared_flags(argv, evalsha)
            .is_some_and(|f| !f.compat && !f.no_writes)
    }

    /// For the OOM check (`scriptFlagsToCmdFlags`): is this EVAL /
    /// EVALSHA `denyoom`, a shebang script with neither `no-writes` nor
    /// `allow-oom`? (A script without a shebang is not: it meets the OOM
    /// error at its first `denyoom` call.)
    pub(super) fn script_denyoom(&mut self, argv: &[Vec<u8>], evalsha: bool) -> bool {
        self.declared_flags(argv, evalsha)
            .is_some_and(|f| !f.compat && !f.no_writes && !f.allow_oom)
    }

    /// The flags of the script an EVAL / EVALSHA names, as
    /// `evalGetCommandFlags` finds them: from the cache, else from the
    /// body's shebang; `None` when unknown or invalid.
    fn declared_flags(&mut self, argv: &[Vec<u8>], evalsha: bool) -> Option<ScriptFlags> {
        if evalsha && argv[1].len() != 40 {
            return None;
        }
        let cached = match self.lua.as_deref_mut() {
            Some(engine) => {
                let sha = if evalsha {
                    lower_sha(&argv[1])
                } else {
                    engine.sha_of(&argv[1])
                };
                engine.flags(&sha)
            }
            None => None,
        };
        match cached {
            Some(flags) => Some(flags),
            None if evalsha => None,
            None => parse_shebang(&argv[1]).ok().map(|(flags, _)| flags),
        }
    }

    /// `EVAL script numkeys [key ...] [arg ...]` and `EVALSHA sha1 ...`.
    pub(super) fn eval(
        &mut self,
        argv: &[Vec<u8>],
        now: i64,
        mode: ExpiryMode,
        evalsha: bool,
        also: &mut Vec<Argv>,
    ) -> Reply {
        if evalsha && argv[1].len() != 40 {
            return Reply::error(NOSCRIPT_ERR);
        }
        let numkeys = match int_arg(&argv[2]) {
            Ok(n) => n,
            Err(e) => return e,
        };
        let nargs = argv.len() - 3;
        if numkeys > nargs as i64 {
            return Reply::error("ERR Number of keys can't be greater than number of args");
        }
        let Ok(numkeys) = usize::try_from(numkeys) else {
            return Reply::error("ERR Number of keys can't be negative");
        };
        let replica = self.role == Role::Replica && mode != ExpiryMode::Loading;
        let engine = self.lua.get_or_insert_with(|| Box::new(LuaEngine::new()));
        let sha = if evalsha {
            lower_sha(&argv[1])
        } else {
            engine.sha_of(&argv[1])
        };
        let flags = match engine.flags(&sha) {
            Some(flags) => flags,
            None if evalsha => return Reply::error(NOSCRIPT_ERR),
            None => match create(engine, &mut self.ks, &sha, &argv[1]) {
                Ok(flags) => flags,
                Err(e) => return e,
            },
        };
        let cluster = match &self.cluster {
            Some(gate) if mode != ExpiryMode::Loading => {
                if !flags.compat && flags.no_cluster {
                    return Reply::error(NO_CLUSTER_ERR);
                }
                Some(ScriptCluster {
                    gate: gate.clone(),
                    allow_cross_slot: flags.compat || flags.allow_cross_slot,
                    slot: match command_slot(argv) {
                        KeySlot::Slot(s) => Some(s),
                        _ => None,
                    },
                })
            }
            _ => None,
        };
        let engine = self.lua.get_or_insert_with(|| Box::new(LuaEngine::new()));
        let params = RunParams {
            now,
            mode,
            replica,
            read_only: !flags.compat && flags.no_writes,
            too_few_replicas: self.too_few_replicas && !replica && mode != ExpiryMode::Loading,
            oom: self.pre_command_oom,
            allow_oom: !flags.compat && flags.allow_oom,
            cluster,
        };
        let (keys, args) = argv[3..].split_at(numkeys);
        engine.run(&sha, keys, args, &mut self.ks, params, also)
    }

    /// `SCRIPT LOAD | EXISTS | FLUSH | KILL | HELP`.
    pub(super) fn script_command(&mut self, cmd: Cmd, argv: &[Vec<u8>]) -> Reply {
        match cmd {
            Cmd::ScriptLoad => {
                let engine = self.lua.get_or_insert_with(|| Box::new(LuaEngine::new()));
                let sha = engine.sha_of(&argv[2]);
                match create(engine, &mut self.ks, &sha, &argv[2]) {
                    Ok(_) => Reply::bulk(sha),
                    Err(e) => e,
                }
            }
            Cmd::ScriptExists => {
                let engine = self.lua.as_deref();
                let found = argv[2..]
                    .iter()
                    .map(|sha| {
                        let known = engine.is_some_and(|e| e.flags(&lower_sha(sha)).is_some());
                        Reply::Int(i64::from(known))
                    })
                    .collect();
                Reply::Array(Some(found))
            }
            Cmd::ScriptFlush => {
                let ok = match argv.len() {
                    2 => true,
                    3 => {
                        super::commands::is(&argv[2], "sync")
                            || super::commands::is(&argv[2], "async")
                    }
                    _ => false,
                };
                if !ok {
                    return Reply::error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
                }
                if let Some(engine) = self.lua.as_deref_mut() {
                    engine.flush();
                }
                self.ks.flush_scripts();
                Reply::ok()
            }
            Cmd::ScriptKill => Reply::error("NOTBUSY No scripts in execution right now."),
            Cmd::ScriptHelp => Reply::Array(Some(
                SCRIPT_HELP
                    .iter()
                    .map(|l| Reply::Status((*l).to_string()))
                    .collect(),
            )),
            _ => unreachable!("{cmd:?} is not a SCRIPT subcommand"),
        }
    }
}

/// `SCRIPT HELP`, as redis-server 7.0.15 prints it.
const SCRIPT_HELP: [&str; 17] = [
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_flags() {
        let ok = |b: &str| parse_shebang(b.as_bytes()).unwrap();
        assert!(ok("return 1").0.compat);
        assert_eq!(ok("#!lua\nreturn 1"), (ScriptFlags::default(), 5));
        assert!(ok("#!lua flags=no-writes,allow-oom\nreturn 1").0.no_writes);
        assert!(ok("#!lua flags=\nreturn 1").0 == ScriptFlags::default());
        let err = |b: &str| match parse_shebang(b.as_bytes()) {
            Err(Reply::Error(e)) => e,
            other => panic!("{other:?}"),
        };
        assert_eq!(err("#!lua"), "ERR Invalid script shebang");
        assert_eq!(
            err("#!py\n"),
            "ERR Unexpected engine in script shebang: #!py"
        );
        assert_eq!(
            err("#!lua flags=foo\n"),
            "ERR Unexpected flag in script shebang: foo"
        );
        assert_eq!(
            err("#!lua flags=,x\n"),
            "ERR Unexpected flag in script shebang: "
        );
        assert_eq!(err("#!lua x=y\n"), "ERR Unknown lua shebang option: x=y");
        assert_eq!(err("#!lua \"x\n"), "ERR Invalid engine in script shebang");
    }
}
