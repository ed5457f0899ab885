--[[
  Admission to a queue with a maxDepth, exact under concurrent publishers: counts the
  queue's occupancy (pending + delayed + claimed + what other publishers reserved and
  have not enqueued yet − the drops they still owe) and reserves room for this publish.
  The reservation is released by enqueue-5.lua, or lapses after ARGV[2] ms if its
  publisher died in between.

  KEYS[1] pending     ZSET
  KEYS[2] delayed     ZSET
  KEYS[3] claims      ZSET
  KEYS[4] reserved    HASH reservation id -> "admitted:dropsOwed"
  KEYS[5] reservedAt  ZSET reservation id -> ms

  ARGV[1] now (ms)
  ARGV[2] how long a reservation may live (ms)
  ARGV[3] maxDepth
  ARGV[4] messages to publish (n)
  ARGV[5] reservation id
  ARGV[6] overflow policy: REJECT | DEAD_LETTER | DROP_OLDEST

  Returns { admitted, drops }:
    REJECT       all n or none
    DEAD_LETTER  as many as fit; the caller dead-letters the rest
    DROP_OLDEST  min(n, maxDepth); the caller drops `drops` of the oldest pending
]]
local rcall = redis.call
local pendingKey, delayedKey, claimsKey, reservedKey, reservedAtKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, ttl, maxDepth, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local reservation, policy = ARGV[5], ARGV[6]

for _, stale in ipairs(rcall("ZRANGEBYSCORE", reservedAtKey, "-inf", now - ttl)) do
  rcall("HDEL", reservedKey, stale)
  rcall("ZREM", reservedAtKey, stale)
end

local held = 0
for _, v in ipairs(rcall("HVALS", reservedKey)) do
  local admitted, owed = string.match(v, "(%d+):(%d+)")
  held = held + tonumber(admitted) - tonumber(owed)
end
local occupied = rcall("ZCARD", pendingKey) + rcall("ZCARD", delayedKey) + rcall("ZCARD", claimsKey) + held
local room = math.max(0, maxDepth - occupied)

local admitted, drops = 0, 0
if policy == "REJECT" then
  if n <= room then admitted = n end
elseif policy == "DEAD_LETTER" then
  admitted = math.min(n, room)
else
  admitted = math.min(n, maxDepth)
  -- only pending messages can be dropped; claimed ones are being worked on
  local droppable = rcall("ZCARD", pendingKey) + rcall("ZCARD", delayedKey)
  drops = math.min(math.max(0, admitted - room), droppable)
end

if admitted > 0 then
  rcall("HSET", reservedKey, reservation, admitted .. ":" .. drops)
  rcall("ZADD", reservedAtKey, now, reservation)
end
return { admitted, drops }
