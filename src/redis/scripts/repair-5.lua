--[[
  Applies the reconciler's repairs to one queue, so Redis agrees with MariaDB again.

  KEYS[1] pending  ZSET id -> order score
  KEYS[2] delayed  ZSET id -> visible-at ms
  KEYS[3] scores   HASH id -> order score of delayed ids
  KEYS[4] claims   ZSET id -> claim expiry ms
  KEYS[5] locks    HASH id -> claimToken

  ARGV[1] now (ms)
  ARGV[2..] groups of four: op, id, a, b
    requeue id score visibleAt  the row is PENDING: no lock, in pending (or delayed)
    relock  id token expiresAt  the row is CLAIMED: its lock and claim, not pending
    remove  id -    -           the row is finished or gone: nowhere
  Returns the number of operations applied.
]]
local rcall = redis.call
local pendingKey, delayedKey, scoresKey, claimsKey, locksKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now = tonumber(ARGV[1])

local function clear(id)
  rcall("ZREM", pendingKey, id)
  rcall("ZREM", delayedKey, id)
  rcall("HDEL", scoresKey, id)
  rcall("ZREM", claimsKey, id)
  rcall("HDEL", locksKey, id)
end

--- @include "includes/addClaimable"

local n = 0
for i = 2, #ARGV, 4 do
  local op, id, a, b = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  clear(id)
  if op == "requeue" then
    addClaimable(pendingKey, delayedKey, scoresKey, id, a, b, now)
  elseif op == "relock" then
    rcall("HSET", locksKey, id, a)
    rcall("ZADD", claimsKey, b, id)
  end
  n = n + 1
end
return n
