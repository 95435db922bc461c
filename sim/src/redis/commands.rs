//! The command table, name lookup and arity checks, the errors of a command
//! that cannot be dispatched, and the dispatcher for every command that
//! runs against the keyspace alone.
//!
//! Scripting (`EVAL`, `EVALSHA`, `SCRIPT`) and `WAIT` need the node and live
//! in `scripting.rs` and `node.rs`; everything else is a plain function of
//! a [`Ctx`], so a Lua `redis.call` runs exactly the same code as a client.
//!
//! The layers, each importing only from those below it: `keyspace.rs`, then
//! `args.rs` (shared error texts and argument parsers), then the command
//! bodies (`strings.rs`, `keys.rs`, `hash.rs`), then this file.

use super::args::SYNTAX_ERR;
use super::keyspace::Ctx;
use super::{hash, keys, strings};
use locksim_models::protocol::Reply;

/// The shared parsers, also for the node and the scripting layer, which
/// reach the command layer through this file.
pub(crate) use super::args::{error_line, int_arg, is, parse_i64};

pub(crate) const READONLY_ERR: &str = "READONLY You can't write against a read only replica.";
pub(crate) const NOSCRIPT_ERR: &str = "NOSCRIPT No matching script. Please use EVAL.";
pub(crate) const NOREPLICAS_ERR: &str = "NOREPLICAS Not enough good replicas to write.";

/// Every command the model knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmd {
    Get,
    Set,
    SetNx,
    GetSet,
    Incr,
    Del,
    Exists,
    Expire,
    PExpire,
    ExpireAt,
    PExpireAt,
    Ttl,
    Pttl,
    HSet,
    HGet,
    HExists,
    HIncrBy,
    HDel,
    Ping,
    Echo,
    Time,
    Publish,
    DbSize,
    FlushAll,
    FlushDb,
    Wait,
    Eval,
    EvalSha,
    /// `SCRIPT` with no subcommand (only ever fails its arity check).
    Script,
    ScriptLoad,
    ScriptExists,
    ScriptFlush,
    ScriptKill,
    ScriptHelp,
}

pub(crate) const WRITE: u8 = 1;
pub(crate) const NOSCRIPT: u8 = 2;
pub(crate) const MAY_REPLICATE: u8 = 4;

/// One row of the command table: Redis's full name (as in arity errors),
/// arity (negative: at least) and flags.
#[derive(Debug)]
pub(crate) struct Spec {
    pub cmd: Cmd,
    pub name: &'static str,
    pub arity: i32,
    pub flags: u8,
}

const fn spec(cmd: Cmd, name: &'static str, arity: i32, flags: u8) -> Spec {
    Spec {
        cmd,
        name,
        arity,
        flags,
    }
}

static COMMANDS: &[Spec] = &[
    spec(Cmd::Get, "get", 2, 0),
    spec(Cmd::Set, "set", -3, WRITE),
    spec(Cmd::SetNx, "setnx", 3, WRITE),
    spec(Cmd::GetSet, "getset", 3, WRITE),
    spec(Cmd::Incr, "incr", 2, WRITE),
    spec(Cmd::Del, "del", -2, WRITE),
    spec(Cmd::Exists, "exists", -2, 0),
    spec(Cmd::Expire, "expire", -3, WRITE),
    spec(Cmd::PExpire, "pexpire", -3, WRITE),
    spec(Cmd::ExpireAt, "expireat", -3, WRITE),
    spec(Cmd::PExpireAt, "pexpireat", -3, WRITE),
    spec(Cmd::Ttl, "ttl", 2, 0),
    spec(Cmd::Pttl, "pttl", 2, 0),
    spec(Cmd::HSet, "hset", -4, WRITE),
    spec(Cmd::HGet, "hget", 3, 0),
    spec(Cmd::HExists, "hexists", 3, 0),
    spec(Cmd::HIncrBy, "hincrby", 4, WRITE),
    spec(Cmd::HDel, "hdel", -3, WRITE),
    spec(Cmd::Ping, "ping", -1, 0),
    spec(Cmd::Echo, "echo", 2, 0),
    spec(Cmd::Time, "time", 1, 0),
    spec(Cmd::Publish, "publish", 3, MAY_REPLICATE),
    spec(Cmd::DbSize, "dbsize", 1, 0),
    spec(Cmd::FlushAll, "flushall", -1, WRITE),
    spec(Cmd::FlushDb, "flushdb", -1, WRITE),
    spec(Cmd::Wait, "wait", 3, NOSCRIPT),
    spec(Cmd::Eval, "eval", -3, NOSCRIPT | MAY_REPLICATE),
    spec(Cmd::EvalSha, "evalsha", -3, NOSCRIPT | MAY_REPLICATE),
    spec(Cmd::Script, "script", -2, NOSCRIPT),
];

static SCRIPT_SUBCOMMANDS: &[Spec] = &[
    spec(Cmd::ScriptLoad, "script|load", 3, NOSCRIPT),
    spec(Cmd::ScriptExists, "script|exists", -3, NOSCRIPT),
    spec(Cmd::ScriptFlush, "script|flush", -2, NOSCRIPT),
    spec(Cmd::ScriptKill, "script|kill", 2, NOSCRIPT),
    spec(Cmd::ScriptHelp, "script|help", 2, NOSCRIPT),
];

/// What a command name resolves to.
pub(crate) enum Lookup {
    Found(&'static Spec),
    /// No such command.
    Unknown,
    /// A known container (`SCRIPT`) with an unknown subcommand.
    UnknownSubcommand,
}

/// Redis's `lookupCommand`: case-insensitive, subcommands of containers.
pub(crate) fn lookup(argv: &[Vec<u8>]) -> Lookup {
    let Some(name) = argv.first() else {
        return Lookup::Unknown;
    };
    let Some(spec) = COMMANDS
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
    else {
        return Lookup::Unknown;
    };
    if spec.cmd != Cmd::Script || argv.len() < 2 {
        return Lookup::Found(spec);
    }
    let sub = &argv[1];
    match SCRIPT_SUBCOMMANDS
        .iter()
        .find(|s| s.name.as_bytes()[7..].eq_ignore_ascii_case(sub))
    {
        Some(s) => Lookup::Found(s),
        None => Lookup::UnknownSubcommand,
    }
}

/// True when `argc` arguments (command name included) satisfy `arity`.
pub(crate) fn arity_ok(spec: &Spec, argc: usize) -> bool {
    let argc = argc as i64;
    let arity = i64::from(spec.arity);
    if arity > 0 {
        argc == arity
    } else {
        argc >= -arity
    }
}

/// `ERR wrong number of arguments for 'get' command`.
pub(crate) fn arity_error(spec: &Spec) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{}' command",
        spec.name
    ))
}

/// Redis's `%.Ns` of a binary-safe argument: stops at NUL, at most `max` bytes.
fn c_str_prefix(arg: &[u8], max: usize) -> &[u8] {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
    &arg[..end.min(max)]
}

/// `ERR unknown command 'foo', with args beginning with: 'a' 'b' `.
pub(crate) fn unknown_command_error(argv: &[Vec<u8>]) -> Reply {
    let mut args = Vec::new();
    for arg in argv.iter().skip(1) {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        args.push(b'\'');
        args.extend_from_slice(c_str_prefix(arg, room));
        args.extend_from_slice(b"' ");
    }
    let name = argv.first().map(|n| c_str_prefix(n, 128)).unwrap_or(b"");
    let mut line = b"ERR unknown command '".to_vec();
    line.extend_from_slice(name);
    line.extend_from_slice(b"', with args beginning with: ");
    line.extend_from_slice(&args);
    error_line(&line)
}

/// `ERR unknown subcommand 'foo'. Try SCRIPT HELP.`
pub(crate) fn unknown_subcommand_error(argv: &[Vec<u8>]) -> Reply {
    let mut line = b"ERR unknown subcommand '".to_vec();
    line.extend_from_slice(c_str_prefix(&argv[1], 128));
    line.extend_from_slice(b"'. Try SCRIPT HELP.");
    error_line(&line)
}

/// Runs a command that needs nothing but the keyspace. `argv` has passed
/// lookup and the arity check.
pub(crate) fn run_plain(ctx: &mut Ctx, cmd: Cmd, argv: &[Vec<u8>]) -> Reply {
    match cmd {
        Cmd::Get => strings::get(ctx, argv),
        Cmd::Set => strings::set(ctx, argv),
        Cmd::SetNx => strings::setnx(ctx, argv),
        Cmd::GetSet => strings::getset(ctx, argv),
        Cmd::Incr => strings::incr(ctx, argv),
        Cmd::Del => keys::del(ctx, argv),
        Cmd::Exists => keys::exists(ctx, argv),
        Cmd::Expire => keys::expire(ctx, argv, ctx.now, true),
        Cmd::PExpire => keys::expire(ctx, argv, ctx.now, false),
        Cmd::ExpireAt => keys::expire(ctx, argv, 0, true),
        Cmd::PExpireAt => keys::expire(ctx, argv, 0, false),
        Cmd::Ttl => keys::ttl(ctx, argv, false),
        Cmd::Pttl => keys::ttl(ctx, argv, true),
        Cmd::HSet => hash::hset(ctx, argv),
        Cmd::HGet => hash::hget(ctx, argv),
        Cmd::HExists => hash::hexists(ctx, argv),
        Cmd::HIncrBy => hash::hincrby(ctx, argv),
        Cmd::HDel => hash::hdel(ctx, argv),
        Cmd::Ping => match argv.get(1) {
            None => Reply::Status("PONG".into()),
            Some(msg) if argv.len() == 2 => Reply::bulk(msg.clone()),
            Some(_) => Reply::error("ERR wrong number of arguments for 'ping' command"),
        },
        Cmd::Echo => Reply::bulk(argv[1].clone()),
        Cmd::Time => {
            let secs = ctx.now.div_euclid(1000);
            let micros = ctx.now.rem_euclid(1000) * 1000;
            Reply::Array(Some(vec![
                Reply::bulk(secs.to_string()),
                Reply::bulk(micros.to_string()),
            ]))
        }
        Cmd::Publish => Reply::Int(0),
        Cmd::DbSize => Reply::Int(ctx.ks.len() as i64),
        Cmd::FlushAll | Cmd::FlushDb => {
            let ok = match argv.len() {
                1 => true,
                2 => is(&argv[1], "sync") || is(&argv[1], "async"),
                _ => false,
            };
            if !ok {
                return Reply::error(SYNTAX_ERR);
            }
            ctx.ks.clear();
            ctx.propagate(argv.to_vec());
            Reply::ok()
        }
        Cmd::Wait
        | Cmd::Eval
        | Cmd::EvalSha
        | Cmd::Script
        | Cmd::ScriptLoad
        | Cmd::ScriptExists
        | Cmd::ScriptFlush
        | Cmd::ScriptKill
        | Cmd::ScriptHelp => unreachable!("{cmd:?} is not a plain command"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_with_subcommands() {
        let a = |v: &[&str]| v.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        assert!(matches!(lookup(&a(&["GeT", "k"])), Lookup::Found(s) if s.cmd == Cmd::Get));
        assert!(matches!(lookup(&a(&["script"])), Lookup::Found(s) if s.cmd == Cmd::Script));
        assert!(
            matches!(lookup(&a(&["SCRIPT", "Load", "x"])), Lookup::Found(s) if s.cmd == Cmd::ScriptLoad)
        );
        assert!(matches!(
            lookup(&a(&["script", "nope"])),
            Lookup::UnknownSubcommand
        ));
        assert!(matches!(lookup(&a(&["nope"])), Lookup::Unknown));
        assert!(matches!(lookup(&[]), Lookup::Unknown));
    }

    #[test]
    fn unknown_command_text() {
        let argv = vec![b"foo".to_vec(), b"a\r\nb".to_vec(), b"c".to_vec()];
        assert_eq!(
            unknown_command_error(&argv),
            Reply::error("ERR unknown command 'foo', with args beginning with: 'a  b' 'c' ")
        );
        let long = vec![b"foo".to_vec(), vec![b'a'; 200], b"b".to_vec()];
        let Reply::Error(e) = unknown_command_error(&long) else {
            panic!()
        };
        assert!(e.ends_with(&format!("'{}' ", "a".repeat(128))));
    }
}
