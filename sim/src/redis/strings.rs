//! String commands: SET (every option of 7.0), SETNX, GET, GETSET, INCR.
//!
//! Propagation follows Redis 7.0: a SET with any expiry option is
//! rewritten to `SET key value PXAT <abs>`, a SET with GET (and no expiry)
//! drops the GET arguments, GETSET becomes `SET key value`, everything else
//! propagates verbatim, and only when the command changed the dataset.

use super::args::{as_str, int_arg, invalid_expire, is, OVERFLOW_ERR, SYNTAX_ERR, WRONGTYPE_ERR};
use super::keyspace::{Ctx, Entry, Value};
use locksim_models::protocol::Reply;

/// `GET key`.
pub(crate) fn get(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match get_generic(ctx, &argv[1]) {
        Ok(r) | Err(r) => r,
    }
}

/// Redis's `getGenericCommand`: the reply for the current string value.
fn get_generic(ctx: &mut Ctx, key: &[u8]) -> Result<Reply, Reply> {
    match ctx.lookup(key) {
        None => Ok(Reply::nil()),
        Some(e) => as_str(&e.value).map(|s| Reply::bulk(s.clone())),
    }
}

/// Parsed SET options. `expire` is the index of the expiry argument.
#[derive(Default)]
struct SetOpts {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    ex: bool,
    px: bool,
    exat: bool,
    pxat: bool,
    expire: Option<usize>,
}

impl SetOpts {
    fn any_expire(&self) -> bool {
        self.ex || self.px || self.exat || self.pxat
    }
}

/// Redis's `parseExtendedStringArgumentsOrReply` for SET: options are
/// checked for conflicts left to right; the expiry value is parsed later.
fn parse_set_opts(argv: &[Vec<u8>]) -> Result<SetOpts, Reply> {
    let mut o = SetOpts::default();
    let mut j = 3;
    while j < argv.len() {
        let opt = &argv[j];
        let has_next = j + 1 < argv.len();
        if is(opt, "nx") && !o.xx {
            o.nx = true;
        } else if is(opt, "xx") && !o.nx {
            o.xx = true;
        } else if is(opt, "get") {
            o.get = true;
        } else if is(opt, "keepttl") && !o.any_expire() {
            o.keepttl = true;
        } else if is(opt, "ex") && !o.keepttl && !o.exat && !o.px && !o.pxat && has_next {
            o.ex = true;
            o.expire = Some(j + 1);
            j += 1;
        } else if is(opt, "px") && !o.keepttl && !o.ex && !o.exat && !o.pxat && has_next {
            o.px = true;
            o.expire = Some(j + 1);
            j += 1;
        } else if is(opt, "exat") && !o.keepttl && !o.ex && !o.px && !o.pxat && has_next {
            o.exat = true;
            o.expire = Some(j + 1);
            j += 1;
        } else if is(opt, "pxat") && !o.keepttl && !o.ex && !o.exat && !o.px && has_next {
            o.pxat = true;
            o.expire = Some(j + 1);
            j += 1;
        } else {
            return Err(Reply::error(SYNTAX_ERR));
        }
        j += 1;
    }
    Ok(o)
}

/// Redis's `getExpireMillisecondsOrReply`: the absolute expiry in ms.
fn expire_ms(ctx: &Ctx, o: &SetOpts, arg: &[u8]) -> Result<i64, Reply> {
    let mut ms = int_arg(arg)?;
    let seconds = o.ex || o.exat;
    if ms <= 0 || (seconds && ms > i64::MAX / 1000) {
        return Err(invalid_expire("set"));
    }
    if seconds {
        ms *= 1000;
    }
    if o.ex || o.px {
        ms = ms.wrapping_add(ctx.now);
    }
    if ms <= 0 {
        return Err(invalid_expire("set"));
    }
    Ok(ms)
}

/// `SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT n|KEEPTTL]`.
pub(crate) fn set(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    match parse_set_opts(argv) {
        Ok(o) => set_generic(ctx, argv, &o, Reply::ok(), Reply::nil()),
        Err(e) => e,
    }
}

/// `SETNX key value`: 1 if set, 0 if the key exists.
pub(crate) fn setnx(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let o = SetOpts {
        nx: true,
        ..SetOpts::default()
    };
    set_generic(ctx, argv, &o, Reply::Int(1), Reply::Int(0))
}

/// Redis's `setGenericCommand`.
fn set_generic(ctx: &mut Ctx, argv: &[Vec<u8>], o: &SetOpts, ok: Reply, abort: Reply) -> Reply {
    let (key, val) = (&argv[1], &argv[2]);
    let ms = match o.expire {
        Some(i) => match expire_ms(ctx, o, &argv[i]) {
            Ok(ms) => Some(ms),
            Err(e) => return e,
        },
        None => None,
    };
    let mut reply = None;
    if o.get {
        match get_generic(ctx, key) {
            Ok(r) => reply = Some(r),
            Err(e) => return e,
        }
    }
    let found = ctx.lookup(key).is_some();
    if (o.nx && found) || (o.xx && !found) {
        return reply.unwrap_or(abort);
    }
    let expire = match ms {
        Some(ms) => Some(ms),
        None if o.keepttl => ctx.ks.get(key).and_then(|e| e.expire),
        None => None,
    };
    let entry = Entry::new(Value::Str(val.clone()), expire);
    ctx.ks.insert(key.clone(), entry);
    if let Some(ms) = ms {
        ctx.propagate(vec![
            b"SET".to_vec(),
            key.clone(),
            val.clone(),
            b"PXAT".to_vec(),
            ms.to_string().into_bytes(),
        ]);
    } else if o.get {
        let kept = argv
            .iter()
            .enumerate()
            .filter(|(j, a)| *j < 3 || !is(a, "get"))
            .map(|(_, a)| a.clone())
            .collect();
        ctx.propagate(kept);
    } else {
        ctx.propagate(argv.to_vec());
    }
    reply.unwrap_or(ok)
}

/// `GETSET key value`: the old value; the new one has no TTL.
pub(crate) fn getset(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let (key, val) = (&argv[1], &argv[2]);
    let old = match get_generic(ctx, key) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let entry = Entry::new(Value::Str(val.clone()), None);
    ctx.ks.insert(key.clone(), entry);
    ctx.propagate(vec![b"SET".to_vec(), key.clone(), val.clone()]);
    old
}

/// `INCR key`: keeps the key's TTL.
pub(crate) fn incr(ctx: &mut Ctx, argv: &[Vec<u8>]) -> Reply {
    let key = &argv[1];
    let (old, expire) = match ctx.lookup(key) {
        None => (0, None),
        Some(Entry {
            value: Value::Str(s),
            expire,
            ..
        }) => match int_arg(s) {
            Ok(v) => (v, *expire),
            Err(e) => return e,
        },
        Some(_) => return Reply::error(WRONGTYPE_ERR),
    };
    let Some(new) = old.checked_add(1) else {
        return Reply::error(OVERFLOW_ERR);
    };
    let entry = Entry::new(Value::Str(new.to_string().into_bytes()), expire);
    ctx.ks.insert(key.clone(), entry);
    ctx.propagate(argv.to_vec());
    Reply::Int(new)
}
