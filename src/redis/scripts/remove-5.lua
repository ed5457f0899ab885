--[[
  Takes messages out of a queue's Redis structures altogether (dead-lettered, expired,
  routed away): from the pending and delayed sets, the scores hash, the claims and the
  locks. MariaDB has already recorded the end state.

  KEYS[1] pending  ZSET
  KEYS[2] delayed  ZSET
  KEYS[3] scores   HASH
  KEYS[4] claims   ZSET
  KEYS[5] locks    HASH

  ARGV    ids

  Returns the number of ids that were still present anywhere.
]]
local rcall = redis.call
local pendingKey, delayedKey, scoresKey, claimsKey, locksKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]

local n = 0
for _, id in ipairs(ARGV) do
  local hit = rcall("ZREM", pendingKey, id) + rcall("ZREM", delayedKey, id) + rcall("HDEL", scoresKey, id)
    + rcall("ZREM", claimsKey, id) + rcall("HDEL", locksKey, id)
  if hit > 0 then n = n + 1 end
end
return n
