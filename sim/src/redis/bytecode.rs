//! Lua bytecode, compiled once per thread.
//!
//! Every simulated node gets a fresh Lua state (a restarted Redis has an
//! empty script cache, and no run may see another's interpreter), but
//! parsing the same Redis environment and the same lock scripts again for
//! every node of every run cost a fifth of a whole run. So the parser runs
//! here, in one scratch state per thread, and node engines load the
//! resulting bytecode, which keeps chunk names and line numbers (error
//! texts are unchanged).
//!
//! Determinism does not depend on the cache: an engine *always* loads
//! bytecode made by the scratch state, on a hit or a miss alike, so its
//! interpreter (memory included, which `collectgarbage("count")` shows)
//! evolves the same way whatever ran before on the thread. The cache only
//! decides whether the scratch state parses again.

use mlua::{ChunkMode, Lua, LuaOptions, StdLib};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Distinct script bodies kept per thread; beyond it bodies are compiled
/// every time (generated tests), which changes speed, never results.
const MAX_SCRIPTS: usize = 1024;

/// Compiled bytecode, or the parser's error message.
pub(crate) type Compiled = Result<Rc<[u8]>, String>;

struct Compiler {
    lua: Lua,
    /// Chunk name, then source, to its bytecode.
    scripts: BTreeMap<&'static str, BTreeMap<Vec<u8>, Compiled>>,
}

thread_local! {
    static COMPILER: RefCell<Compiler> = RefCell::new(Compiler {
        // Parsing and dumping need no library.
        lua: Lua::new_with(StdLib::NONE, LuaOptions::default())
            .expect("an empty Lua state"),
        scripts: BTreeMap::new(),
    });
}

/// The bytecode of `source` under the chunk name `name` (`@user_script`,
/// `=locksim_redis`), or the syntax error Lua reports for it.
pub(crate) fn compile(source: &[u8], name: &'static str) -> Compiled {
    COMPILER.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(found) = c.scripts.get(name).and_then(|m| m.get(source)) {
            return found.clone();
        }
        let compiled = c
            .lua
            .load(source)
            .set_name(name)
            .set_mode(ChunkMode::Text)
            .into_function()
            .map(|f| Rc::from(f.dump(false)))
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => message,
                other => other.to_string(),
            });
        let cached: usize = c.scripts.values().map(BTreeMap::len).sum();
        if cached < MAX_SCRIPTS {
            let by_source = c.scripts.entry(name).or_default();
            by_source.insert(source.to_vec(), compiled.clone());
        }
        compiled
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytecode_is_cached_and_errors_keep_the_chunk_name() {
        let a = compile(b"return 1", "@user_script").unwrap();
        let b = compile(b"return 1", "@user_script").unwrap();
        assert!(Rc::ptr_eq(&a, &b), "the second compile is a cache hit");
        let err = compile(b"return +", "@user_script").unwrap_err();
        assert!(err.starts_with("user_script:1:"), "{err}");
    }

    #[test]
    fn bytecode_keeps_line_numbers() {
        let code = compile(b"\nlocal x = nil\nreturn x.y", "@user_script").unwrap();
        // SAFETY: binary chunks need an unsafe state; this one only loads
        // bytecode that `compile` just produced.
        let lua = unsafe { Lua::unsafe_new_with(StdLib::NONE, LuaOptions::default()) };
        let f = lua
            .load(&*code)
            .set_mode(ChunkMode::Binary)
            .into_function()
            .unwrap();
        let err = f.call::<()>(()).unwrap_err().to_string();
        assert!(err.contains("user_script:3:"), "{err}");
    }
}
