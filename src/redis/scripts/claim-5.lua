--[[
  Claims up to #tokens messages of one queue, atomically across every process:
  promotes delayed ids that are due, pops the lowest order scores, and takes each
  one's lock (HSETNX, the SET NX of the reference, kept in a per-queue hash so every
  key is in KEYS) with its expiry in the claims set.

  KEYS[1] pending  ZSET id -> order score
  KEYS[2] delayed  ZSET id -> visible-at ms
  KEYS[3] scores   HASH id -> order score of delayed ids
  KEYS[4] claims   ZSET id -> claim expiry ms
  KEYS[5] locks    HASH id -> claimToken

  ARGV[1] now (ms)
  ARGV[2] visibility timeout (ms)
  ARGV[3..] one fresh claimToken per message wanted

  Returns a flat list id1, token1, id2, token2, ... (empty when nothing is claimable).
  An id whose lock is still held (it can only be after a repair) is left to the
  visibility enforcer rather than handed out twice.
]]
local rcall = redis.call
local pendingKey, delayedKey, scoresKey, claimsKey, locksKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now = tonumber(ARGV[1])
local expiresAt = now + tonumber(ARGV[2])
local wanted = #ARGV - 2

--- @include "includes/promoteDue"

-- Promote a bounded number per call so one claim never does unbounded work.
promoteDue(pendingKey, delayedKey, scoresKey, now, math.max(wanted * 4, 100))

local popped = rcall("ZPOPMIN", pendingKey, wanted)
local out = {}
local t = 3
for i = 1, #popped, 2 do
  local id = popped[i]
  local token = ARGV[t]
  t = t + 1
  if rcall("HSETNX", locksKey, id, token) == 1 then
    rcall("ZADD", claimsKey, expiresAt, id)
    out[#out + 1] = id
    out[#out + 1] = token
  end
end
return out
