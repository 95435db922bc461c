//! Generic key commands: DEL, EXISTS, EXPIRE / PEXPIRE / EXPIREAT /
//! PEXPIREAT (with the NX, XX, GT and LT options of 7.0), TTL, PTTL.
//!
//! A successful expire propagates as `PEXPIREAT key <abs ms> [options]`; an
//! expire into the past deletes the key on a master and propagates `DEL`.

use super::args::{error_line, int_arg, invalid_expire, is};
use super::keyspace::{Ctx, ExpiryMode};
use locksim_models::protocol::Reply;

/// `DEL key [key ...]`: the number of keys removed.
pub(crate) fn del(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let mut deleted = 0;
    for key in &argv[1..] {
        ctx.expire_if_needed(key);
        if ctx.ks.remove(key).is_some() {
            deleted += 1;
        }
    }
    if deleted > 0 {
        ctx.propagate(argv.to_vec());
    }
    Reply::Int(deleted)
}

/// `EXISTS key [key ...]`: repeated keys count each time.
pub(crate) fn exists(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let mut n = 0;
    for key in &argv[1..] {
        if ctx.lookup_notouch(key).is_some() {
            n += 1;
        }
    }
    Reply::Int(n)
}

#[derive(Default)]
struct ExpireOpts {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

/// Redis's `parseExtendedExpireArgumentsOrReply`.
fn parse_expire_opts(argv: &[Vec<u8>]) -> Result<ExpireOpts, Reply> {
    let mut o = ExpireOpts::default();
    for opt in &argv[3..] {
        if is(opt, "nx") {
            o.nx = true;
        } else if is(opt, "xx") {
            o.xx = true;
        } else if is(opt, "gt") {
            o.gt = true;
        } else if is(opt, "lt") {
            o.lt = true;
        } else {
            let end = opt.iter().position(|&b| b == 0).unwrap_or(opt.len());
            let mut line = b"ERR Unsupported option ".to_vec();
            line.extend_from_slice(&opt[..end]);
            return Err(error_line(&line));
        }
    }
    if o.nx && (o.xx || o.gt || o.lt) {
        return Err(Reply::error(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if o.gt && o.lt {
        return Err(Reply::error(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    Ok(o)
}

/// Redis's `expireGenericCommand`. `basetime` is `now` for EXPIRE and
/// PEXPIRE, 0 for the `AT` forms; `seconds` for EXPIRE and EXPIREAT.
pub(crate) fn expire(ctx: &mut Ctx, argv: &[Vec<u8>], basetime: i64, seconds: bool) -> Reply {
    let name = match (basetime != 0, seconds) {
        (true, true) => "expire",
        (true, false) => "pexpire",
        (false, true) => "expireat",
        (false, false) => "pexpireat",
    };
    let o = match parse_expire_opts(argv) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let mut when = match int_arg(&argv[2]) {
        Ok(v) => v,
        Err(e) => return e,
    };
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return invalid_expire(name);
        }
        when *= 1000;
    }
    if when > i64::MAX - basetime {
        return invalid_expire(name);
    }
    when += basetime;
    let key = &argv[1];
    let current = match ctx.lookup(key) {
        None => return Reply::Int(0),
        Some(entry) => entry.expire,
    };
    let refused = (o.nx && current.is_some())
        || (o.xx && current.is_none())
        || (o.gt && current.is_none_or(|c| when <= c))
        || (o.lt && current.is_some_and(|c| when >= c));
    if refused {
        return Reply::Int(0);
    }
    if ctx.mode == ExpiryMode::Master && when <= ctx.now {
        ctx.ks.remove(key);
        ctx.propagate(vec![b"DEL".to_vec(), key.clone()]);
        return Reply::Int(1);
    }
    if let Some(entry) = ctx.ks.get_mut(key) {
        entry.expire = Some(when);
    }
    let mut prop = argv.to_vec();
    if name != "pexpireat" {
        prop[0] = b"PEXPIREAT".to_vec();
    }
    if basetime != 0 || seconds {
        prop[2] = when.to_string().into_bytes();
    }
    ctx.propagate(prop);
    Reply::Int(1)
}

/// `TTL key` / `PTTL key`: -2 missing, -1 no expiry, else the remaining
/// time (TTL rounds to the nearest second).
pub(crate) fn ttl(ctx: &mut Ctx, argv: &[Vec<u8>], ms: bool) -> Reply {
    let now = ctx.now;
    let Some(entry) = ctx.lookup_notouch(&argv[1]) else {
        return Reply::Int(-2);
    };
    match entry.expire {
        None => Reply::Int(-1),
        Some(when) => {
            let left = when.saturating_sub(now).max(0);
            Reply::Int(if ms {
                left
            } else {
                left.saturating_add(500) / 1000
            })
        }
    }
}
