//! Hash commands for the Redisson-style watchdog lock: HSET, HGET,
//! HEXISTS, HINCRBY, HDEL. All propagate verbatim when they change data.

use super::args::{int_arg, parse_i64, OVERFLOW_ERR, WRONGTYPE_ERR};
use super::keyspace::{Ctx, Entry, Value};
use locksim_models::protocol::Reply;
use std::collections::BTreeMap;

type Hash = BTreeMap<Vec<u8>, Vec<u8>>;

/// Redis's `hashTypeLookupWriteOrCreate`.
fn hash_for_write<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<&'c mut Hash, Reply> {
    if ctx.lookup(key).is_none() {
        let entry = Entry::new(Value::Hash(Hash::new()), None);
        ctx.ks.insert(key.to_vec(), entry);
    }
    match ctx.ks.get_mut(key).map(|e| &mut e.value) {
        Some(Value::Hash(h)) => Ok(h),
        _ => Err(Reply::error(WRONGTYPE_ERR)),
    }
}

/// The hash at `key` for reading: `Ok(None)` if absent.
fn hash_for_read<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c Hash>, Reply> {
    match ctx.lookup(key) {
        None => Ok(None),
        Some(Entry {
            value: Value::Hash(h),
            ..
        }) => Ok(Some(h)),
        Some(_) => Err(Reply::error(WRONGTYPE_ERR)),
    }
}

/// `HSET key field value [field value ...]`: the number of new fields.
pub(crate) fn hset(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    if argv.len() % 2 == 1 {
        return Reply::error("ERR wrong number of arguments for 'hset' command");
    }
    let h = match hash_for_write(ctx, &argv[1]) {
        Ok(h) => h,
        Err(e) => return e,
    };
    let mut created = 0;
    for pair in argv[2..].chunks(2) {
        if h.insert(pair[0].clone(), pair[1].clone()).is_none() {
            created += 1;
        }
    }
    ctx.propagate(argv.to_vec());
    Reply::Int(created)
}

/// `HGET key field`.
pub(crate) fn hget(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match hash_for_read(ctx, &argv[1]) {
        Ok(h) => match h.and_then(|h| h.get(&argv[2])) {
            Some(v) => Reply::bulk(v.clone()),
            None => Reply::nil(),
        },
        Err(e) => e,
    }
}

/// `HEXISTS key field`.
pub(crate) fn hexists(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match hash_for_read(ctx, &argv[1]) {
        Ok(h) => Reply::Int(i64::from(h.is_some_and(|h| h.contains_key(&argv[2])))),
        Err(e) => e,
    }
}

/// `HINCRBY key field increment`.
pub(crate) fn hincrby(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let incr = match int_arg(&argv[3]) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let h = match hash_for_write(ctx, &argv[1]) {
        Ok(h) => h,
        Err(e) => return e,
    };
    let old = match h.get(&argv[2]) {
        None => 0,
        Some(v) => match parse_i64(v) {
            Some(v) => v,
            None => return Reply::error("ERR hash value is not an integer"),
        },
    };
    let Some(new) = old.checked_add(incr) else {
        return Reply::error(OVERFLOW_ERR);
    };
    h.insert(argv[2].clone(), new.to_string().into_bytes());
    ctx.propagate(argv.to_vec());
    Reply::Int(new)
}

/// `HDEL key field [field ...]`: removes the key when the hash empties.
pub(crate) fn hdel(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let key = &argv[1];
    let h = match ctx.lookup(key) {
        None => return Reply::Int(0),
        Some(Entry {
            value: Value::Hash(h),
            ..
        }) => h,
        Some(_) => return Reply::error(WRONGTYPE_ERR),
    };
    let mut deleted = 0;
    for field in &argv[2..] {
        if h.remove(field).is_some() {
            deleted += 1;
        }
    }
    let empty = h.is_empty();
    if empty {
        ctx.ks.remove(key);
    }
    if deleted > 0 {
        ctx.propagate(argv.to_vec());
    }
    Reply::Int(deleted)
}
