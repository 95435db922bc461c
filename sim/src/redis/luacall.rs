//! `redis.call` and `redis.pcall`: C functions, as in Redis.
//!
//! They read their arguments straight from the Lua stack, run the command
//! through the same dispatcher as a client command (after Redis's
//! `scriptCall` checks), and push the converted reply. Being C functions
//! matters beyond speed: stack levels, tail calls (`return redis.call(...)`)
//! and the error handler's `on @user_script:<line>` are then exactly Redis's.
//!
//! While a script runs, the node's keyspace lives in a [`ScriptEnv`] owned
//! by the engine; its address is kept in the Lua registry.

use super::cluster;
use super::cluster::ScriptCluster;
use super::commands::{
    self, Lookup, DENYOOM, MAY_REPLICATE, NOREPLICAS_ERR, NOSCRIPT, READONLY_ERR, WRITE,
};
use super::evict::OOM_ERR;
use super::keyspace::{Ctx, ExpiryMode, Keyspace};
use super::luaconv::{error_text, fmt_g17};
use locksim_models::protocol::{Argv, Reply};
use mlua::ffi;
use std::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Registry key of the light userdata pointing at the engine's [`ScriptEnv`].
pub(crate) const ENV_KEY: &CStr = c"locksim.env";

/// The state `redis.call` works on while a script runs.
pub(crate) struct ScriptEnv {
    pub ks: Keyspace,
    pub now: i64,
    pub mode: ExpiryMode,
    pub replica: bool,
    /// `#!lua flags=no-writes`.
    pub read_only: bool,
    /// A master short of good replicas: the first write gets `NOREPLICAS`.
    pub too_few_replicas: bool,
    /// `server.pre_command_oom_state`.
    pub oom: bool,
    /// `#!lua flags=allow-oom`.
    pub allow_oom: bool,
    pub write_dirty: bool,
    /// False after `redis.set_repl(redis.REPL_NONE)`.
    pub propagate: bool,
    pub also: Vec<Argv>,
    /// Redis's lrand48 state (48 bits), one per node, never reseeded.
    pub rand: u64,
    /// Hook periods used by the running script.
    pub steps: u64,
    pub killed: bool,
    /// On a Redis Cluster node (client scripts only).
    pub cluster: Option<ScriptCluster>,
}

impl Default for ScriptEnv {
    fn default() -> Self {
        ScriptEnv {
            ks: Keyspace::default(),
            now: 0,
            mode: ExpiryMode::Master,
            replica: false,
            read_only: false,
            too_few_replicas: false,
            oom: false,
            allow_oom: false,
            write_dirty: false,
            propagate: true,
            also: Vec::new(),
            rand: 0x1234_ABCD_330E,
            steps: 0,
            killed: false,
            cluster: None,
        }
    }
}

/// The engine's [`ScriptEnv`], owned by the engine (see `LuaEngine`), made
/// movable into Lua callbacks.
#[derive(Clone, Copy)]
pub(crate) struct EnvPtr(pub *mut ScriptEnv);

// SAFETY: the pointee is owned by one `LuaEngine` and only touched from
// calls made while that engine is borrowed mutably (one thread at a time).
unsafe impl Send for EnvPtr {}

impl EnvPtr {
    /// # Safety
    /// No other reference to the environment may be live.
    pub unsafe fn get(self) -> &'static mut ScriptEnv {
        &mut *self.0
    }
}

unsafe fn env_from_registry(state: *mut ffi::lua_State) -> EnvPtr {
    ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, ENV_KEY.as_ptr());
    let p = ffi::lua_touserdata(state, -1).cast::<ScriptEnv>();
    ffi::lua_pop(state, 1);
    EnvPtr(p)
}

/// Reads `redis.call` arguments: strings as they are, numbers as `%.17g`.
unsafe fn stack_argv(state: *mut ffi::lua_State) -> Result<Argv, &'static [u8]> {
    let n = ffi::lua_gettop(state);
    if n == 0 {
        return Err(b"Please specify at least one argument for this redis lib call");
    }
    let mut argv = Vec::with_capacity(n as usize);
    for i in 1..=n {
        match ffi::lua_type(state, i) {
            ffi::LUA_TNUMBER => argv.push(fmt_g17(ffi::lua_tonumber(state, i)).into_bytes()),
            ffi::LUA_TSTRING => {
                let mut len = 0;
                let p = ffi::lua_tolstring(state, i, &mut len);
                argv.push(std::slice::from_raw_parts(p.cast::<u8>(), len).to_vec());
            }
            _ => return Err(b"Lua redis lib command arguments must be strings or integers"),
        }
    }
    Ok(argv)
}

unsafe fn push_bytes(state: *mut ffi::lua_State, bytes: &[u8]) {
    ffi::lua_pushlstring(state, bytes.as_ptr().cast(), bytes.len());
}

/// Pushes `{err=<text>}` (plus Redis's `ignore_error_stats_update` flag for
/// errors that came from a command).
unsafe fn push_error_table(state: *mut ffi::lua_State, text: &[u8], from_command: bool) {
    ffi::lua_createtable(state, 0, 2);
    push_bytes(state, text);
    ffi::lua_setfield(state, -2, c"err".as_ptr());
    if from_command {
        ffi::lua_pushboolean(state, 1);
        ffi::lua_setfield(state, -2, c"ignore_error_stats_update".as_ptr());
    }
}

/// Pushes a command's reply converted to Lua (Redis -> Lua rules).
unsafe fn push_reply(state: *mut ffi::lua_State, reply: &Reply) {
    ffi::luaL_checkstack(state, 4, c"reply too deep".as_ptr());
    match reply {
        Reply::Int(i) => ffi::lua_pushnumber(state, *i as f64),
        Reply::Bulk(Some(b)) => push_bytes(state, b),
        Reply::Bulk(None) | Reply::Array(None) => ffi::lua_pushboolean(state, 0),
        Reply::Status(s) => {
            ffi::lua_createtable(state, 0, 1);
            push_bytes(state, s.as_bytes());
            ffi::lua_setfield(state, -2, c"ok".as_ptr());
        }
        Reply::Error(e) => {
            let mut buf = Vec::with_capacity(e.len() + 1);
            buf.push(b'-');
            buf.extend_from_slice(e.as_bytes());
            push_error_table(state, &error_text(&buf), true);
        }
        Reply::Array(Some(items)) => {
            ffi::lua_createtable(state, c_int::try_from(items.len()).unwrap_or(0), 0);
            for (i, item) in items.iter().enumerate() {
                push_reply(state, item);
                ffi::lua_rawseti(state, -2, (i + 1) as ffi::lua_Integer);
            }
        }
    }
}

/// Runs the call and leaves one value on the stack; true if it is an error.
unsafe fn generic_call(state: *mut ffi::lua_State) -> bool {
    let env = env_from_registry(state);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let argv = stack_argv(state).map_err(|msg| (msg.to_vec(), false))?;
        script_call(env.get(), &argv).map_err(|msg| (msg.into_bytes(), true))
    }));
    match outcome {
        Ok(Ok(reply)) => {
            push_reply(state, &reply);
            reply.is_error()
        }
        Ok(Err((msg, from_command))) => {
            push_error_table(state, &error_text(&msg), from_command);
            true
        }
        Err(_) => {
            push_error_table(state, b"ERR locksim: internal error in redis.call", false);
            true
        }
    }
}

/// `redis.call`: raises the error table.
pub(crate) unsafe extern "C-unwind" fn redis_call(state: *mut ffi::lua_State) -> c_int {
    if generic_call(state) {
        ffi::lua_error(state);
    }
    1
}

/// `redis.pcall`: returns the error table.
pub(crate) unsafe extern "C-unwind" fn redis_pcall(state: *mut ffi::lua_State) -> c_int {
    generic_call(state);
    1
}

/// A C function calling its upvalue with all its arguments and returning
/// its results; an error is re-raised from this C frame. The other
/// `redis.*` helpers and `math.random` are Lua functions wrapped in this, so
/// that they behave as the C functions they are in Redis.
pub(crate) unsafe extern "C-unwind" fn trampoline(state: *mut ffi::lua_State) -> c_int {
    let nargs = ffi::lua_gettop(state);
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_insert(state, 1);
    if ffi::lua_pcall(state, nargs, ffi::LUA_MULTRET, 0) != 0 {
        ffi::lua_error(state);
    }
    ffi::lua_gettop(state)
}

/// Redis's `scriptCall`: the checks a command from a script goes through,
/// then the command itself. `Err` carries the error buffer.
pub(crate) fn script_call(env: &mut ScriptEnv, argv: &[Vec<u8>]) -> Result<Reply, String> {
    let spec = match commands::lookup(argv) {
        Lookup::Found(spec) => spec,
        Lookup::Unknown | Lookup::UnknownSubcommand => {
            return Err("Unknown Redis command called from script".into())
        }
    };
    if !commands::arity_ok(spec, argv.len()) {
        return Err("Wrong number of args calling Redis command from script".into());
    }
    if spec.flags & NOSCRIPT != 0 {
        return Err("This Redis command is not allowed from script".into());
    }
    if env.read_only && spec.flags & (WRITE | MAY_REPLICATE) != 0 {
        return Err("Write commands are not allowed from read-only scripts.".into());
    }
    if spec.flags & WRITE != 0 && !env.write_dirty && env.replica && env.mode != ExpiryMode::Loading
    {
        return Err(format!("-{READONLY_ERR}"));
    }
    // Redis 7.0 `scriptVerifyWriteCommandAllow`: only a script that has
    // not written yet can be refused (its first write).
    if spec.flags & WRITE != 0
        && !env.write_dirty
        && env.too_few_replicas
        && env.mode != ExpiryMode::Loading
    {
        return Err(format!("-{NOREPLICAS_ERR}"));
    }
    // `scriptVerifyOOM`: only the first write of a script can be refused.
    if spec.flags & DENYOOM != 0
        && env.oom
        && !env.allow_oom
        && !env.write_dirty
        && env.mode != ExpiryMode::Loading
    {
        return Err(format!("-{OOM_ERR}"));
    }
    if spec.flags & WRITE != 0 {
        env.write_dirty = true;
    }
    if let Some(c) = &mut env.cluster {
        cluster::script_check(&c.gate, argv, c.allow_cross_slot, &mut c.slot)
            .map_err(str::to_string)?;
    }
    env.ks.note_command(spec.name);
    let mut ctx = Ctx {
        ks: &mut env.ks,
        now: env.now,
        mode: env.mode,
        also: &mut env.also,
        propagate: env.propagate,
    };
    Ok(commands::run_plain(&mut ctx, spec.cmd, argv))
}

/// `redis.acl_check_cmd`: every known command is permitted (no ACLs).
/// Returns the result and whether it is an error to raise.
pub(crate) fn acl_check(argv: &[Vec<u8>]) -> Result<bool, &'static [u8]> {
    if argv.is_empty() {
        return Err(b"Please specify at least one argument for this redis lib call");
    }
    match commands::lookup(argv) {
        Lookup::Found(_) => Ok(true),
        _ => Err(b"Invalid command passed to redis.acl_check_cmd()"),
    }
}
