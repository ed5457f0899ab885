--[[
  Ends live claims (complete; later fail and release): for each id whose lock holds the
  given token and has not lapsed, drops the lock and the claim.

  KEYS[1] claims  ZSET id -> claim expiry ms
  KEYS[2] locks   HASH id -> claimToken

  ARGV[1] now (ms)
  ARGV[2..] pairs: id, claimToken

  Returns one code per pair, in order:
    1  settled
    0  no live claim (never claimed, already settled, or lapsed)
   -1  the live claim holds another token
]]
local rcall = redis.call
local claimsKey, locksKey = KEYS[1], KEYS[2]
local now = tonumber(ARGV[1])

local out = {}
for i = 2, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local held = rcall("HGET", locksKey, id)
  local expiresAt = tonumber(rcall("ZSCORE", claimsKey, id) or "0")
  if not held or expiresAt <= now then
    out[#out + 1] = 0
  elseif held ~= token then
    out[#out + 1] = -1
  else
    rcall("HDEL", locksKey, id)
    rcall("ZREM", claimsKey, id)
    out[#out + 1] = 1
  end
end
return out
