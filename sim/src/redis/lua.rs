//! One node's Lua 5.1 interpreter and script cache.
//!
//! Scripts are compiled once, cached by SHA1 like Redis's `f_<sha>`
//! functions, and run with the environment of `redis_env.lua` (the
//! `redis.*` API, Redis's `pcall`, `math.random` on Redis's lrand48,
//! protected globals). While a script runs, the node's keyspace is moved
//! into the interpreter's app data ([`ScriptEnv`]) so that `redis.call`
//! runs the very same command code a client does, at the same frozen time.

use super::commands::{self, Lookup, MAY_REPLICATE, NOSCRIPT, READONLY_ERR, WRITE};
use super::keyspace::{Ctx, ExpiryMode, Keyspace};
use super::luaconv::{error_table, lua_arg_bytes, lua_to_reply, reply_to_lua, script_error};
use locksim_models::protocol::{Argv, Reply};
use mlua::{
    ffi, Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value as LuaValue,
};
use std::collections::BTreeMap;
use std::ffi::c_int;

const INTERNAL_CHUNK: &str = "=locksim_redis";
const ENV_SOURCE: &str = include_str!("redis_env.lua");

/// Lua instructions between two checks of the runaway-script budget.
const HOOK_EVERY: u32 = 100_000;
/// A script is stopped after this many hook periods (10^9 instructions,
/// seconds of real CPU). Redis would keep running it (BUSY); a simulator
/// must not hang.
const HOOK_BUDGET: u64 = 10_000;

/// Flags from a script's `#!lua` shebang line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ScriptFlags {
    /// No shebang: Redis 7.0's compatibility mode for pre-7 scripts.
    pub compat: bool,
    /// `flags=no-writes`.
    pub no_writes: bool,
}

/// The state `redis.call` works on while a script runs.
pub(crate) struct ScriptEnv {
    ks: Keyspace,
    now: i64,
    mode: ExpiryMode,
    replica: bool,
    read_only: bool,
    write_dirty: bool,
    propagate: bool,
    also: Vec<Argv>,
    /// Redis's lrand48 state (48 bits), one per node, never reseeded.
    rand: u64,
    steps: u64,
    killed: bool,
}

/// How one script runs.
pub(crate) struct RunParams {
    pub now: i64,
    pub mode: ExpiryMode,
    pub replica: bool,
    pub read_only: bool,
}

struct Script {
    func: Function,
    flags: ScriptFlags,
}

/// A node's interpreter and script cache.
pub(crate) struct LuaEngine {
    lua: Lua,
    globals: Table,
    run: Function,
    env: Table,
    scripts: BTreeMap<String, Script>,
    /// Script body to SHA1, so a repeated EVAL does not hash again.
    shas: BTreeMap<Vec<u8>, String>,
}

impl std::fmt::Debug for LuaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LuaEngine")
            .field("scripts", &self.scripts.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A C function calling its upvalue with all its arguments and returning
/// its results; an error is re-raised from this C frame. Redis's `redis.*`
/// functions are C functions: wrapping the Lua implementations in this
/// keeps stack levels, tail calls and error positions identical.
unsafe extern "C-unwind" fn trampoline(state: *mut ffi::lua_State) -> c_int {
    let nargs = ffi::lua_gettop(state);
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_insert(state, 1);
    if ffi::lua_pcall(state, nargs, ffi::LUA_MULTRET, 0) != 0 {
        ffi::lua_error(state);
    }
    ffi::lua_gettop(state)
}

/// SHA1 of a script body, lowercase hex.
pub(crate) fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

impl LuaEngine {
    pub fn new() -> LuaEngine {
        Self::build().expect("the Redis Lua environment must load")
    }

    fn build() -> mlua::Result<LuaEngine> {
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG;
        // SAFETY: the debug library is needed by the error handler; it is
        // removed from the globals before any user script runs.
        let lua = unsafe { Lua::unsafe_new_with(libs, LuaOptions::default()) };
        lua.set_app_data(ScriptEnv {
            ks: Keyspace::default(),
            now: 0,
            mode: ExpiryMode::Master,
            replica: false,
            read_only: false,
            write_dirty: false,
            propagate: true,
            also: Vec::new(),
            rand: 0x1234_ABCD_330E,
            steps: 0,
            killed: false,
        });
        let raw_call = lua.create_function(|lua, args: MultiValue| raw_call(lua, args))?;
        let raw_acl = lua.create_function(|lua, args: MultiValue| raw_acl(lua, args))?;
        let raw_err =
            lua.create_function(|lua, buf: mlua::String| error_table(lua, &buf.as_bytes(), false))?;
        let raw_sha1 = lua.create_function(|_, s: mlua::String| Ok(sha1_hex(&s.as_bytes())))?;
        let raw_rand = lua.create_function(|lua, ()| {
            let mut env = lua.app_data_mut::<ScriptEnv>().expect("script env");
            env.rand = (env.rand.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & ((1 << 48) - 1);
            Ok((env.rand >> 17) as f64)
        })?;
        let raw_srand = lua.create_function(|lua, seed: i64| {
            let seed = seed as i32;
            let low = u64::from(seed as u32 & 0xffff);
            let high = u64::from((seed >> 16) as u32 & 0xffff);
            let mut env = lua.app_data_mut::<ScriptEnv>().expect("script env");
            env.rand = 0x330E | (low << 16) | (high << 32);
            Ok(())
        })?;
        let raw_set_repl = lua.create_function(|lua, flags: i64| {
            lua.app_data_mut::<ScriptEnv>()
                .expect("script env")
                .propagate = flags != 0;
            Ok(())
        })?;
        let cfn = lua.create_function(|lua, f: Function| {
            // SAFETY: pushes one C closure over the function argument; the
            // trampoline only uses the Lua C API on its own stack.
            unsafe {
                lua.exec_raw::<Function>(f, |state| {
                    ffi::lua_pushcclosure(state, trampoline, 1);
                })
            }
        })?;
        let (run, env): (Function, Table) =
            lua.load(ENV_SOURCE).set_name(INTERNAL_CHUNK).call((
                raw_call,
                raw_acl,
                raw_err,
                raw_sha1,
                raw_rand,
                raw_srand,
                raw_set_repl,
                cfn,
            ))?;
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            |lua, _| {
                let mut env = lua.app_data_mut::<ScriptEnv>().expect("script env");
                env.steps += 1;
                if env.steps > HOOK_BUDGET {
                    env.killed = true;
                    return Err(mlua::Error::runtime(
                        "script exceeded its instruction budget",
                    ));
                }
                Ok(mlua::VmState::Continue)
            },
        );
        let globals = lua.globals();
        Ok(LuaEngine {
            lua,
            globals,
            run,
            env,
            scripts: BTreeMap::new(),
            shas: BTreeMap::new(),
        })
    }

    /// SHA1 of a body, memoised.
    pub fn sha_of(&mut self, body: &[u8]) -> String {
        if let Some(sha) = self.shas.get(body) {
            return sha.clone();
        }
        let sha = sha1_hex(body);
        self.shas.insert(body.to_vec(), sha.clone());
        sha
    }

    /// The flags of a cached script.
    pub fn flags(&self, sha: &str) -> Option<ScriptFlags> {
        self.scripts.get(sha).map(|s| s.flags)
    }

    /// Compiles `body` (the shebang line, if any, is `skip` bytes long and
    /// is blanked out, keeping line numbers) and caches it under `sha`.
    pub fn compile(
        &mut self,
        sha: &str,
        body: &[u8],
        skip: usize,
        flags: ScriptFlags,
    ) -> Result<(), Reply> {
        let func = self
            .lua
            .load(&body[skip..])
            .set_name("@user_script")
            .set_environment(self.env.clone())
            .into_function()
            .map_err(|e| {
                let msg = match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    other => other.to_string(),
                };
                commands::error_line(
                    format!("ERR Error compiling script (new function): {msg}").as_bytes(),
                )
            })?;
        self.scripts.insert(sha.to_string(), Script { func, flags });
        Ok(())
    }

    /// `SCRIPT FLUSH`.
    pub fn flush(&mut self) {
        self.scripts.clear();
        self.shas.clear();
    }

    /// Runs a cached script against `ks`; its propagated operations are
    /// appended to `also`.
    pub fn run(
        &mut self,
        sha: &str,
        keys: &[Vec<u8>],
        args: &[Vec<u8>],
        ks: &mut Keyspace,
        p: RunParams,
        also: &mut Vec<Argv>,
    ) -> Reply {
        {
            let mut env = self.lua.app_data_mut::<ScriptEnv>().expect("script env");
            std::mem::swap(&mut env.ks, ks);
            env.now = p.now;
            env.mode = p.mode;
            env.replica = p.replica;
            env.read_only = p.read_only;
            env.write_dirty = false;
            env.propagate = true;
            env.steps = 0;
            env.killed = false;
        }
        let result = self.call(sha, keys, args);
        let mut env = self.lua.app_data_mut::<ScriptEnv>().expect("script env");
        std::mem::swap(&mut env.ks, ks);
        also.append(&mut env.also);
        if env.killed {
            return Reply::error(format!(
                "ERR locksim: script {sha} ran more than {} Lua instructions and was stopped (Redis would stay BUSY)",
                u64::from(HOOK_EVERY) * HOOK_BUDGET
            ));
        }
        match result {
            Ok(reply) => reply,
            Err(e) => commands::error_line(format!("ERR locksim Lua failure: {e}").as_bytes()),
        }
    }

    fn call(&self, sha: &str, keys: &[Vec<u8>], args: &[Vec<u8>]) -> mlua::Result<Reply> {
        let script = self.scripts.get(sha).expect("script is cached");
        self.globals.raw_set("KEYS", self.array(keys)?)?;
        self.globals.raw_set("ARGV", self.array(args)?)?;
        let (ok, value): (bool, LuaValue) = self.run.call(&script.func)?;
        Ok(if ok {
            lua_to_reply(&value)
        } else {
            script_error(&value, sha)
        })
    }

    fn array(&self, items: &[Vec<u8>]) -> mlua::Result<Table> {
        let t = self.lua.create_table_with_capacity(items.len(), 0)?;
        for (i, item) in items.iter().enumerate() {
            t.raw_set(i + 1, self.lua.create_string(item)?)?;
        }
        Ok(t)
    }
}

/// Converts `redis.call` arguments, or the error table for bad ones.
fn call_argv(lua: &Lua, args: &MultiValue) -> mlua::Result<Result<Argv, Table>> {
    if args.is_empty() {
        let msg = b"Please specify at least one argument for this redis lib call";
        return Ok(Err(error_table(lua, msg, false)?));
    }
    let mut argv = Vec::with_capacity(args.len());
    for a in args {
        match lua_arg_bytes(a) {
            Some(b) => argv.push(b),
            None => {
                let msg = b"Lua redis lib command arguments must be strings or integers";
                return Ok(Err(error_table(lua, msg, false)?));
            }
        }
    }
    Ok(Ok(argv))
}

/// `redis.call` / `redis.pcall`: returns the converted reply and whether it
/// is an error (the Lua side raises it for `redis.call`).
fn raw_call(lua: &Lua, args: MultiValue) -> mlua::Result<(LuaValue, bool)> {
    let argv = match call_argv(lua, &args)? {
        Ok(argv) => argv,
        Err(t) => return Ok((LuaValue::Table(t), true)),
    };
    let outcome = {
        let mut env = lua.app_data_mut::<ScriptEnv>().expect("script env");
        script_call(&mut env, &argv)
    };
    match outcome {
        Ok(reply) => {
            let failed = reply.is_error();
            Ok((reply_to_lua(lua, &reply)?, failed))
        }
        Err(msg) => Ok((
            LuaValue::Table(error_table(lua, msg.as_bytes(), true)?),
            true,
        )),
    }
}

/// Redis's `scriptCall`: the checks a command from a script goes through,
/// then the command itself. `Err` carries the error buffer.
fn script_call(env: &mut ScriptEnv, argv: &[Vec<u8>]) -> Result<Reply, String> {
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
    if spec.flags & WRITE != 0 {
        if !env.write_dirty && env.replica && env.mode != ExpiryMode::Loading {
            return Err(format!("-{READONLY_ERR}"));
        }
        env.write_dirty = true;
    }
    let ScriptEnv {
        ks,
        now,
        mode,
        also,
        propagate,
        ..
    } = env;
    let mut ctx = Ctx {
        ks,
        now: *now,
        mode: *mode,
        also,
        propagate: *propagate,
    };
    Ok(commands::run_plain(&mut ctx, spec.cmd, argv))
}

/// `redis.acl_check_cmd`: every known command is permitted (no ACLs).
fn raw_acl(lua: &Lua, args: MultiValue) -> mlua::Result<(LuaValue, bool)> {
    let argv = match call_argv(lua, &args)? {
        Ok(argv) => argv,
        Err(t) => return Ok((LuaValue::Table(t), true)),
    };
    match commands::lookup(&argv) {
        Lookup::Found(_) => Ok((LuaValue::Boolean(true), false)),
        _ => {
            let msg = b"Invalid command passed to redis.acl_check_cmd()";
            Ok((LuaValue::Table(error_table(lua, msg, false)?), true))
        }
    }
}
