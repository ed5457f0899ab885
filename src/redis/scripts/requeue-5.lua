--[[
  Ends claims and makes the messages claimable again (fail with retries left, release,
  a lapsed claim): drops each lock and claim, then puts the id into the pending set, or
  into the delayed set until its visible-at time. MariaDB has already recorded the
  change; this brings Redis in line with it.

  KEYS[1] pending  ZSET id -> order score
  KEYS[2] delayed  ZSET id -> visible-at ms
  KEYS[3] scores   HASH id -> order score, for delayed ids
  KEYS[4] claims   ZSET id -> claim expiry ms
  KEYS[5] locks    HASH id -> claimToken

  ARGV[1] now (ms)
  ARGV[2..] triples: id, order score, visible-at ms (0 or past = now)

  Returns the number of ids requeued. Emits no event: the caller publishes
  scaiqueue.message.failed / released once MariaDB has committed.
]]
local rcall = redis.call
local pendingKey, delayedKey, scoresKey, claimsKey, locksKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now = tonumber(ARGV[1])

--- @include "includes/addClaimable"

local n = 0
for i = 2, #ARGV, 3 do
  local id = ARGV[i]
  rcall("HDEL", locksKey, id)
  rcall("ZREM", claimsKey, id)
  addClaimable(pendingKey, delayedKey, scoresKey, id, ARGV[i + 1], ARGV[i + 2], now)
  n = n + 1
end
return n
