-- The Redis 7.0 scripting environment, run once per node's Lua state.
--
-- Redis implements redis.* and math.random in C. redis.call and
-- redis.pcall are C functions here too; the other helpers are Lua
-- functions wrapped by `cfn` into C closures that re-raise any error from
-- the C frame, so stack levels, tail calls and the error handler's source
-- and line are exactly those of Redis. This chunk is named
-- "=locksim_redis"; the error handler skips its frames (the globals
-- protection metamethods), which in Redis are C functions too.
local redis_call, redis_pcall, raw_acl, raw_err, raw_sha1, raw_rand, raw_srand, raw_set_repl, cfn = ...

local G = _G
local dbg = debug
local type, tostring, tonumber, error, select, setmetatable, xpcall, rawpcall =
  type, tostring, tonumber, error, select, setmetatable, xpcall, pcall
local floor = math.floor
local INTERNAL = "=locksim_redis"

-- Redis's __redis__err__handler: non-table errors become {err='ERR ...'};
-- the source and line are those of the function that raised the error, or
-- of its caller when that function is a C function. Frames of this chunk
-- stand in for Redis's C functions and are skipped.
local function handler(err)
  local first, second
  local level = 2
  while true do
    local info = dbg.getinfo(level, "Sl")
    if not info then break end
    if info.source ~= INTERNAL then
      if first then
        second = info
        break
      end
      first = info
    end
    level = level + 1
  end
  local info = first
  if info and info.what == "C" then info = second end
  if type(err) ~= "table" then err = { err = "ERR " .. tostring(err) } end
  if info then
    err["source"] = info.source
    err["line"] = info.currentline
  end
  return err
end

local function raise(msg)
  error(raw_err(msg))
end

-- redis.*
local redis = {}

redis.call = redis_call
redis.pcall = redis_pcall

redis.acl_check_cmd = cfn(function(...)
  local r, failed = raw_acl(...)
  if failed then error(r) end
  return r
end)

redis.error_reply = cfn(function(...)
  local s = ...
  if select("#", ...) ~= 1 or type(s) ~= "string" then
    return raw_err("wrong number or type of arguments")
  end
  if s:sub(1, 1) ~= "-" then s = "-" .. s end
  return raw_err(s)
end)

redis.status_reply = cfn(function(...)
  local s = ...
  if select("#", ...) ~= 1 or type(s) ~= "string" then
    return raw_err("wrong number or type of arguments")
  end
  return { ok = s }
end)

redis.sha1hex = cfn(function(...)
  if select("#", ...) ~= 1 then raise("wrong number of arguments") end
  local s = ...
  if type(s) == "number" then
    s = tostring(s)
  elseif type(s) ~= "string" then
    s = ""
  end
  return raw_sha1(s)
end)

-- C's (int) cast of a double, as Redis applies to lua_tonumber results.
local function c_int(x)
  if x ~= x then return -2147483648 end
  if x >= 0 then return floor(x) end
  return -floor(-x)
end

redis.log = cfn(function(...)
  local n = select("#", ...)
  if n < 2 then raise("redis.log() requires two arguments or more.") end
  local level = tonumber((...))
  if level == nil then raise("First argument must be a number (log level).") end
  level = c_int(level)
  if level < 0 or level > 3 then raise("Invalid debug level.") end
end)

redis.setresp = cfn(function(...)
  if select("#", ...) ~= 1 then raise("redis.setresp() requires one argument.") end
  local v = c_int(tonumber((...)) or 0)
  if v ~= 2 and v ~= 3 then raise("RESP version must be 2 or 3.") end
end)

redis.set_repl = cfn(function(...)
  if select("#", ...) ~= 1 then raise("redis.set_repl() requires two arguments.") end
  local flags = c_int(tonumber((...)) or 0)
  if flags < 0 or flags > 3 then
    raise("Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")
  end
  raw_set_repl(flags)
end)

redis.replicate_commands = cfn(function() return true end)
redis.breakpoint = cfn(function() return false end)
redis.debug = cfn(function() end)

redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION = "7.0.15"
redis.REDIS_VERSION_NUM = 458767

-- math.random / math.randomseed on Redis's lrand48 (one state per node).
local MAX = 2147483647

-- lua_number2int on x86: round half to even, wrap to 32 bits.
local function lua_int(x)
  local f = floor(x)
  local diff = x - f
  if diff > 0.5 or (diff == 0.5 and f % 2 == 1) then f = f + 1 end
  f = f % 4294967296
  if f >= 2147483648 then f = f - 4294967296 end
  return f
end

-- luaL_argerror, raised at the caller of the math function. Levels: 1
-- argerr, 2 the implementation, 3 its C closure, 4 the caller.
local function argerr(narg, extramsg)
  local info = dbg.getinfo(3, "n")
  local name = (info and info.name) or "?"
  error("bad argument #" .. narg .. " to '" .. name .. "' (" .. extramsg .. ")", 4)
end

local function typename(n, ...)
  if select("#", ...) < n then return "no value" end
  return type((select(n, ...)))
end

local function random(...)
  local r = (raw_rand() % MAX) / MAX
  local n = select("#", ...)
  if n == 0 then return r end
  if n == 1 then
    local u = tonumber((...))
    if u == nil then argerr(1, "number expected, got " .. typename(1, ...)) end
    u = lua_int(u)
    if not (1 <= u) then argerr(1, "interval is empty") end
    return floor(r * u) + 1
  end
  if n == 2 then
    local l, u = tonumber((...)), tonumber((select(2, ...)))
    if l == nil then argerr(1, "number expected, got " .. typename(1, ...)) end
    if u == nil then argerr(2, "number expected, got " .. typename(2, ...)) end
    l, u = lua_int(l), lua_int(u)
    if not (l <= u) then argerr(2, "interval is empty") end
    return floor(r * (u - l + 1)) + l
  end
  error("wrong number of arguments", 3)
end

local function randomseed(...)
  local s = tonumber((...))
  if s == nil then argerr(1, "number expected, got " .. typename(1, ...)) end
  raw_srand(lua_int(s))
end

math.random = cfn(random)
math.randomseed = cfn(randomseed)

-- Redis's pcall: an error table with a string 'err' becomes that string.
local function pcall_result(ok, ...)
  if ok then return true, ... end
  local e = ...
  if type(e) == "table" then
    local m = e.err
    if type(m) == "string" or type(m) == "number" then e = m end
  end
  return false, e
end

G.pcall = function(...)
  return pcall_result(rawpcall(...))
end

G.redis = redis
G.__redis__err__handler = handler
for _, name in ipairs({ "print", "dofile", "loadfile", "getfenv", "setfenv", "newproxy", "debug",
  "module", "require", "package", "os", "io" }) do
  G[name] = nil
end

-- Globals protection: reading a missing global and writing any global fail.
local function missing(_, k)
  if type(k) ~= "string" and type(k) ~= "number" then
    error("Second argument to luaProtectedTableError must be a string or number", 2)
  end
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end

local function readonly()
  error("Attempt to modify a readonly table", 2)
end

setmetatable(G, { __index = missing, __newindex = readonly, __metatable = {} })
local env = setmetatable({}, { __index = G, __newindex = readonly, __metatable = {} })

-- Redis makes the globals and every table reachable from them read-only.
-- Plain Lua 5.1 cannot refuse `string.x = 1`, but rawset and setmetatable
-- refuse these tables as Redis does.
local protected = {}
for _, t in ipairs({ G, env, redis, string, math, table, coroutine, getmetatable("") }) do
  protected[t] = true
end
local real_rawset, real_setmetatable = rawset, setmetatable

G.rawset = cfn(function(...)
  local t, k = ...
  if type(t) ~= "table" then argerr(1, "table expected, got " .. typename(1, ...)) end
  if select("#", ...) < 2 then argerr(2, "value expected") end
  if select("#", ...) < 3 then argerr(3, "value expected") end
  if protected[t] then error("Attempt to modify a readonly table", 0) end
  real_rawset(t, k, (select(3, ...)))
  return t
end)

G.setmetatable = cfn(function(...)
  local t, mt = ...
  if type(t) ~= "table" then argerr(1, "table expected, got " .. typename(1, ...)) end
  if mt ~= nil and type(mt) ~= "table" then argerr(2, "nil or table expected") end
  if protected[t] then error("Attempt to modify a readonly table", 0) end
  return real_setmetatable(t, mt)
end)

local function run(f)
  return xpcall(f, handler)
end

return run, env
