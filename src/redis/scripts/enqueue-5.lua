--[[
  Makes published messages claimable in one queue, and settles the queue's admission
  reservation for them (see admit-5.lua): in one step, the ids dropped to make room
  (DROP_OLDEST) leave, the new ids arrive, and the reservation is released, so the
  queue's occupancy is never under- or over-counted in between.

  KEYS[1] pending     ZSET id -> order score
  KEYS[2] delayed     ZSET id -> visible-at ms
  KEYS[3] scores      HASH id -> order score, for delayed ids only
  KEYS[4] reserved    HASH reservation id -> "admitted:dropsOwed"
  KEYS[5] reservedAt  ZSET reservation id -> ms

  ARGV[1] reservation id ("" when the queue has no maxDepth)
  ARGV[2] number of dropped ids that follow (d)
  ARGV[3 .. 2+d] dropped ids
  ARGV[3+d ..] triples: id, order score, visible-at ms (0 = visible now)

  Returns the number of ids enqueued. Emits no event: the caller publishes
  scaiqueue.message.published once the rows are committed.
]]
local rcall = redis.call
local pendingKey, delayedKey, scoresKey, reservedKey, reservedAtKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local reservation = ARGV[1]
local drops = tonumber(ARGV[2])

for i = 3, 2 + drops do
  rcall("ZREM", pendingKey, ARGV[i])
  rcall("ZREM", delayedKey, ARGV[i])
  rcall("HDEL", scoresKey, ARGV[i])
end

--- @include "includes/addClaimable"

local n = 0
for i = 3 + drops, #ARGV, 3 do
  -- 0 = visible now; any later time delays it
  addClaimable(pendingKey, delayedKey, scoresKey, ARGV[i], ARGV[i + 1], ARGV[i + 2], 0)
  n = n + 1
end

if reservation ~= "" then
  rcall("HDEL", reservedKey, reservation)
  rcall("ZREM", reservedAtKey, reservation)
end
return n
