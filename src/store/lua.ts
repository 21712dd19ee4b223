/**
 * Redis scripts: every limiter decision is one of these, run atomically by Redis in one
 * round trip (EVALSHA; ioredis falls back to EVAL once after a Redis restart flushed the
 * script cache). The arithmetic mirrors algorithms.ts exactly; both are tested against one
 * table. Each script touches only KEYS[1], so it is valid under Redis Cluster key-slot
 * rules whatever the key hashes to.
 *
 * Time is the Redis server's (TIME), so every gateway instance sees one clock (a store
 * built with an explicit clock sends its time instead: tests, and the conformance table). Numbers are
 * stored with %.17g, which round-trips a double exactly; replies are integers (ms, ceil).
 */

const prelude = (nowArg: number) => `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local now_us
if ARGV[${nowArg}] ~= nil and ARGV[${nowArg}] ~= '' then
  now_us = tonumber(ARGV[${nowArg}])
else
  local tm = redis.call('TIME')
  now_us = tonumber(tm[1]) * 1000000 + tonumber(tm[2])
end
local t = now_us / 1000
local function fmt(x) return string.format('%.17g', x) end
`;

/**
 * KEYS[1] state hash; ARGV: algorithm (1 fixed, 2 sliding, 3 bucket, 4 gcra), limit,
 * windowMs, burst, want, partial (0|1), now in µs ('' = the Redis server's TIME).
 */
export const LIMIT_SCRIPT = `${prelude(7)}
local alg = tonumber(ARGV[1])
local L = tonumber(ARGV[2])
local W = tonumber(ARGV[3])
local B = tonumber(ARGV[4])
local want = tonumber(ARGV[5])
local partial = ARGV[6] == '1'
local st = redis.call('HMGET', KEYS[1], 'a', 'b', 'c')
local a = tonumber(st[1])
local b = tonumber(st[2]) or 0
local c = tonumber(st[3]) or 0

local function grant(avail)
  if partial then
    local g = math.floor(avail)
    if g > want then g = want end
    if g < 0 then g = 0 end
    return g
  end
  if want <= avail then return want end
  return 0
end

local g, limit, remaining, reset, retry, ttl
if alg == 1 then
  local win = math.floor(t / W)
  if a ~= win then a = win; b = 0 end
  g = grant(L - b)
  b = b + g
  local finish = (win + 1) * W
  limit = L
  remaining = math.max(0, L - b)
  reset = finish - t
  if g > 0 then retry = 0 else retry = finish - t end
  ttl = finish - t
elseif alg == 2 then
  local win = math.floor(t / W)
  if a ~= win then
    if a == win - 1 then c = b else c = 0 end
    b = 0
    a = win
  end
  local elapsed = t - win * W
  local est = c * (W - elapsed) / W + b
  g = grant(L - est)
  b = b + g
  limit = L
  remaining = math.max(0, math.floor(L - est - g))
  reset = W - elapsed
  retry = 0
  if g == 0 then
    local need = math.min(want, L)
    local room = L - b - need
    if room >= 0 and c > 0 then
      retry = math.max(1, W - room * W / c - elapsed)
    else
      local into = 0
      if b > 0 then into = math.max(0, W - (L - need) * W / b) end
      retry = math.max(1, W - elapsed + into)
    end
  end
  ttl = (win + 2) * W - t
elseif alg == 3 then
  local rate = L / W
  local tokens
  if a == nil then
    tokens = B
    b = t
  else
    tokens = math.min(B, a + math.max(0, t - b) * rate)
    b = math.max(t, b)
  end
  g = grant(tokens)
  tokens = tokens - g
  a = tokens
  limit = B
  remaining = math.floor(tokens)
  reset = (B - tokens) / rate
  retry = 0
  if g == 0 then
    local need = want
    if partial then need = 1 end
    if need > B then need = B end
    retry = math.max(1, (need - tokens) / rate)
  end
  ttl = reset
else
  local T = math.max(1, math.floor(W * 1000 / L + 0.5))
  local tat = now_us
  if a ~= nil and a > now_us then tat = a end
  local fit = math.floor((now_us + B * T - tat) / T)
  g = grant(fit)
  a = tat + g * T
  limit = B
  remaining = math.max(0, fit - g)
  reset = (a - now_us) / 1000
  retry = 0
  if g == 0 then
    local need = want
    if partial then need = 1 end
    if need > B then need = B end
    retry = math.max(1, (tat + need * T - B * T - now_us) / 1000)
  end
  ttl = reset
end

redis.call('HSET', KEYS[1], 'a', fmt(a), 'b', fmt(b), 'c', fmt(c))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(ttl)))
return { g, limit, remaining, math.ceil(reset), math.ceil(retry) }
`;

/** KEYS[1] counter; ARGV: cost, limit, ttlMs. Returns { allowed (0|1), count }. */
export const COUNT_SCRIPT = `
local cost = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur + cost > limit then return { 0, cur } end
local n = redis.call('INCRBY', KEYS[1], cost)
if cur == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return { 1, n }
`;

/**
 * KEYS[1] sorted set of holders scored by expiry; ARGV: holder, max, holdMs, now (µs
 * or ''). Expired holders (an instance that died holding a slot) are dropped first.
 * Returns 1 or 0.
 */
export const ACQUIRE_SCRIPT = `${prelude(4)}
local hold = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], t + hold, ARGV[1])
redis.call('PEXPIRE', KEYS[1], hold)
return 1
`;

/**
 * KEYS[1] hash of field → epoch ms; ARGV: field, at, since, ttlMs. Sets the field to `at`
 * unless it holds a later time, removes fields older than `since`, sets the TTL. Returns
 * the number of fields left.
 */
export const STAMP_SCRIPT = `
local at = tonumber(ARGV[2])
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or tonumber(cur) < at then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
local since = tonumber(ARGV[3])
local all = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) < since then redis.call('HDEL', KEYS[1], all[i]) else n = n + 1 end
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return n
`;

export const ALGORITHM_CODES = { 'fixed-window': 1, 'sliding-window': 2, 'token-bucket': 3, gcra: 4 } as const;
