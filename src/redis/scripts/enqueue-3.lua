--[[
  Makes published messages claimable in one queue.

  KEYS[1] pending  ZSET id -> order score
  KEYS[2] delayed  ZSET id -> visible-at ms
  KEYS[3] scores   HASH id -> order score, for delayed ids only

  ARGV    triples: id, order score, visible-at ms (0 = visible now)

  Returns the number of ids enqueued. Emits no event: the caller publishes
  scaiqueue.message.published once the rows are committed.
]]
local rcall = redis.call
local pendingKey, delayedKey, scoresKey = KEYS[1], KEYS[2], KEYS[3]

local n = 0
for i = 1, #ARGV, 3 do
  local id, score, visibleAt = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  if visibleAt > 0 then
    rcall("ZADD", delayedKey, visibleAt, id)
    rcall("HSET", scoresKey, id, score)
  else
    rcall("ZADD", pendingKey, score, id)
  end
  n = n + 1
end
return n
