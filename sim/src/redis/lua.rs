//! One node's Lua 5.1 interpreter and script cache.
//!
//! Scripts are compiled once, cached by SHA1 like Redis's `f_<sha>`
//! functions, and run with the environment of `redis_env.lua` (the
//! `redis.*` API, Redis's `pcall`, `math.random` on Redis's lrand48,
//! protected globals). While a script runs, the node's keyspace is moved
//! into the engine's [`ScriptEnv`] so that `redis.call` runs the very same
//! command code a client does, at the same frozen time.

use super::bytecode;
use super::commands;
use super::keyspace::{ExpiryMode, Keyspace};
use super::luacall::{acl_check, redis_call, redis_pcall, trampoline, EnvPtr, ScriptEnv, ENV_KEY};
use super::luaconv::{error_table, lua_arg_bytes, lua_to_reply, script_error};
use locksim_models::protocol::{Argv, Reply};
use mlua::{
    ffi, ChunkMode, Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table,
    Value as LuaValue,
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
#[cfg(not(test))]
const HOOK_BUDGET: u64 = 10_000;
#[cfg(test)]
const HOOK_BUDGET: u64 = 20;

/// Installs the instruction-budget hook. Once the budget is spent the hook
/// fires at every instruction, like Redis's hook after SCRIPT KILL, so that
/// a `pcall` cannot swallow the error and keep looping.
fn install_hook(lua: &Lua, env: EnvPtr, every: u32) {
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(every),
        move |lua, _| {
            // SAFETY: runs inside a script, while `run` keeps no reference
            // to the environment.
            let env_ref = unsafe { env.get() };
            env_ref.steps += 1;
            if env_ref.steps > HOOK_BUDGET {
                if !env_ref.killed {
                    env_ref.killed = true;
                    install_hook(lua, env, 1);
                }
                return Err(mlua::Error::runtime(
                    "script exceeded its instruction budget",
                ));
            }
            Ok(mlua::VmState::Continue)
        },
    );
}

/// Flags from a script's `#!lua` shebang line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ScriptFlags {
    /// No shebang: Redis 7.0's compatibility mode for pre-7 scripts.
    pub compat: bool,
    /// `flags=no-writes`.
    pub no_writes: bool,
    /// `flags=allow-oom`.
    pub allow_oom: bool,
    /// `flags=allow-cross-slot-keys`.
    pub allow_cross_slot: bool,
    /// `flags=no-cluster`.
    pub no_cluster: bool,
}

/// How one script runs.
pub(crate) struct RunParams {
    pub now: i64,
    pub mode: ExpiryMode,
    pub replica: bool,
    pub read_only: bool,
    /// A master short of good replicas (min-replicas): the first write
    /// fails with `NOREPLICAS`.
    pub too_few_replicas: bool,
    /// `server.pre_command_oom_state`: the node was out of memory when the
    /// script started.
    pub oom: bool,
    /// `flags=allow-oom` (shebang scripts only).
    pub allow_oom: bool,
    pub cluster: Option<super::cluster::ScriptCluster>,
}

struct Script {
    func: Function,
    flags: ScriptFlags,
}

/// A node's interpreter and script cache.
pub(crate) struct LuaEngine {
    lua: Lua,
    run: Function,
    env_table: Table,
    /// Owned (from `Box::into_raw`), freed on drop; reachable from Lua
    /// through the registry.
    env: EnvPtr,
    scripts: BTreeMap<String, Script>,
    /// Script body to SHA1, so a repeated EVAL does not hash again.
    shas: BTreeMap<Vec<u8>, String>,
}

// SAFETY: the engine exclusively owns its Lua state (mlua's `send` feature)
// and its `ScriptEnv`; both are only used through `&mut self`.
unsafe impl Send for LuaEngine {}

impl Drop for LuaEngine {
    fn drop(&mut self) {
        // SAFETY: created by `Box::into_raw` in `build`; no script runs now.
        drop(unsafe { Box::from_raw(self.env.0) });
    }
}

impl std::fmt::Debug for LuaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LuaEngine")
            .field("scripts", &self.scripts.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// SHA1 of a script body, lowercase hex.
pub(crate) fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// `redis.acl_check_cmd`: (result, is an error to raise).
fn raw_acl(lua: &Lua, args: MultiValue) -> mlua::Result<(LuaValue, bool)> {
    let argv: Option<Argv> = args.iter().map(lua_arg_bytes).collect();
    let outcome = match argv {
        None => Err(&b"Lua redis lib command arguments must be strings or integers"[..]),
        Some(argv) => acl_check(&argv),
    };
    match outcome {
        Ok(ok) => Ok((LuaValue::Boolean(ok), false)),
        Err(msg) => Ok((LuaValue::Table(error_table(lua, msg, false)?), true)),
    }
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
        let env = EnvPtr(Box::into_raw(Box::<ScriptEnv>::default()));
        // SAFETY: stores the environment's address in the registry; C
        // functions are plain `lua_CFunction`s with no upvalues.
        let (call, pcall) = unsafe {
            lua.exec_raw::<()>((), |state| {
                ffi::lua_pushlightuserdata(state, env.0.cast());
                ffi::lua_setfield(state, ffi::LUA_REGISTRYINDEX, ENV_KEY.as_ptr());
            })?;
            (
                lua.create_c_function(redis_call)?,
                lua.create_c_function(redis_pcall)?,
            )
        };
        let raw_acl = lua.create_function(|lua, args: MultiValue| raw_acl(lua, args))?;
        let raw_err =
            lua.create_function(|lua, buf: mlua::String| error_table(lua, &buf.as_bytes(), false))?;
        let raw_sha1 = lua.create_function(|_, s: mlua::String| Ok(sha1_hex(&s.as_bytes())))?;
        // SAFETY (the three closures below and the hook): they run only
        // inside a script, while `run` holds the engine mutably and keeps
        // no reference to the environment.
        let raw_rand = lua.create_function(move |_, ()| {
            let env = unsafe { env.get() };
            env.rand = (env.rand.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & ((1 << 48) - 1);
            Ok((env.rand >> 17) as f64)
        })?;
        let raw_srand = lua.create_function(move |_, seed: i64| {
            let seed = seed as i32;
            let low = u64::from(seed as u32 & 0xffff);
            let high = u64::from((seed >> 16) as u32 & 0xffff);
            unsafe { env.get() }.rand = 0x330E | (low << 16) | (high << 32);
            Ok(())
        })?;
        let raw_set_repl = lua.create_function(move |_, flags: i64| {
            unsafe { env.get() }.propagate = flags != 0;
            Ok(())
        })?;
        let cfn = lua.create_function(|lua, f: Function| {
            // SAFETY: pushes one C closure over the function argument.
            unsafe {
                lua.exec_raw::<Function>(f, |state| {
                    ffi::lua_pushcclosure(state, trampoline, 1);
                })
            }
        })?;
        let env_code = bytecode::compile(ENV_SOURCE.as_bytes(), INTERNAL_CHUNK)
            .map_err(mlua::Error::runtime)?;
        let (run, env_table): (Function, Table) = lua
            .load(&*env_code)
            .set_name(INTERNAL_CHUNK)
            .set_mode(ChunkMode::Binary)
            .call((
                call,
                pcall,
                raw_acl,
                raw_err,
                raw_sha1,
                raw_rand,
                raw_srand,
                raw_set_repl,
                cfn,
            ))?;
        install_hook(&lua, env, HOOK_EVERY);
        Ok(LuaEngine {
            lua,
            run,
            env_table,
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
    /// is left out, keeping line numbers) and caches it under `sha`.
    pub fn compile(
        &mut self,
        sha: &str,
        body: &[u8],
        skip: usize,
        flags: ScriptFlags,
    ) -> Result<(), Reply> {
        let error = |msg: String| {
            commands::error_line(
                format!("ERR Error compiling script (new function): {msg}").as_bytes(),
            )
        };
        let code = bytecode::compile(&body[skip..], "@user_script").map_err(error)?;
        let func = self
            .lua
            .load(&*code)
            .set_name("@user_script")
            .set_mode(ChunkMode::Binary)
            .set_environment(self.env_table.clone())
            .into_function()
            .map_err(|e| error(e.to_string()))?;
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
            // SAFETY: no script is running; this is the only reference.
            let env = unsafe { self.env.get() };
            std::mem::swap(&mut env.ks, ks);
            env.now = p.now;
            env.mode = p.mode;
            env.replica = p.replica;
            env.read_only = p.read_only;
            env.too_few_replicas = p.too_few_replicas;
            env.oom = p.oom;
            env.allow_oom = p.allow_oom;
            env.cluster = p.cluster;
            env.write_dirty = false;
            env.propagate = true;
            env.steps = 0;
            env.killed = false;
        }
        let result = self.call(sha, keys, args);
        // SAFETY: the script has returned; this is the only reference.
        let env = unsafe { self.env.get() };
        std::mem::swap(&mut env.ks, ks);
        also.append(&mut env.also);
        if env.killed {
            install_hook(&self.lua, self.env, HOOK_EVERY);
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
        // SAFETY: with the runner and the script function on the stack,
        // pushes KEYS and ARGV as fresh tables into the globals (raw sets,
        // bypassing the read-only metatable), then calls the runner, which
        // catches every error (xpcall) and leaves (ok, value).
        let (ok, value): (bool, LuaValue) = unsafe {
            self.lua.exec_raw((&self.run, &script.func), |state| {
                for (name, items) in [(c"KEYS", keys), (c"ARGV", args)] {
                    ffi::lua_pushstring(state, name.as_ptr());
                    ffi::lua_createtable(state, c_int::try_from(items.len()).unwrap_or(0), 0);
                    for (i, item) in items.iter().enumerate() {
                        ffi::lua_pushlstring(state, item.as_ptr().cast(), item.len());
                        ffi::lua_rawseti(state, -2, (i + 1) as ffi::lua_Integer);
                    }
                    ffi::lua_rawset(state, ffi::LUA_GLOBALSINDEX);
                }
                ffi::lua_call(state, 1, 2);
            })?
        };
        Ok(if ok {
            lua_to_reply(&value)
        } else {
            script_error(&value, sha)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(e: &mut LuaEngine, body: &str) -> Reply {
        let sha = e.sha_of(body.as_bytes());
        if e.flags(&sha).is_none() {
            e.compile(&sha, body.as_bytes(), 0, ScriptFlags::default())
                .expect("compiles");
        }
        let p = RunParams {
            now: 0,
            mode: ExpiryMode::Master,
            replica: false,
            read_only: false,
            too_few_replicas: false,
            oom: false,
            allow_oom: false,
            cluster: None,
        };
        e.run(&sha, &[], &[], &mut Keyspace::default(), p, &mut Vec::new())
    }

    #[test]
    fn runaway_scripts_are_stopped_even_under_pcall() {
        let mut e = LuaEngine::new();
        for body in [
            "while true do end",
            "while true do pcall(function() while true do end end) end",
        ] {
            let Reply::Error(msg) = run(&mut e, body) else {
                panic!("{body} was not stopped")
            };
            assert!(msg.contains("instructions and was stopped"), "{msg}");
        }
        assert_eq!(
            run(
                &mut e,
                "local n = 0 for i = 1, 1000 do n = n + i end return n"
            ),
            Reply::Int(500500)
        );
    }

    #[test]
    fn engine_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<LuaEngine>();
        assert_send::<super::super::node::RedisNode>();
    }
}
