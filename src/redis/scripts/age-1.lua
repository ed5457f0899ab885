--[[
  Priority aging for one PRIORITY queue: a LOW or BACKGROUND message that has waited
  one aging step ranks at least as LOW; after two steps, as NORMAL. It keeps its score
  and publish time inside the new tier. The order score is
  (tierRank × 1001 + (1000 − priorityScore)) × 2^40 + (publish ms − epoch),
  see src/domain/intake/ordering.ts.

  KEYS[1] pending  ZSET id -> order score

  ARGV[1] now (ms since the ordering epoch)
  ARGV[2] aging step (ms)
  ARGV[3] most members to look at in this call
  ARGV[4] where to start among the LOW and BACKGROUND members (0 = the first)

  Returns { raised, next }: next is where the following call starts, -1 when done.
]]
local rcall = redis.call
local pendingKey = KEYS[1]
local now, step, limit, offset = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local SPAN = 1099511627776 -- 2^40
local TIER = 1001 * SPAN
local LOW, NORMAL = 3, 2

local members = rcall("ZRANGEBYSCORE", pendingKey, LOW * TIER, "+inf", "WITHSCORES", "LIMIT", offset, limit)
local raised = 0
for i = 1, #members, 2 do
  local id, score = members[i], tonumber(members[i + 1])
  local band = math.floor(score / TIER)
  local age = now - (score % SPAN)
  local target = band
  if age >= 2 * step then target = NORMAL elseif age >= step then target = math.min(band, LOW) end
  if target < band then
    rcall("ZADD", pendingKey, "XX", score - (band - target) * TIER, id)
    raised = raised + 1
  end
end
-- members raised to NORMAL left the range and BACKGROUND ones raised to LOW moved ahead
-- in it, so the next chunk starts that much earlier (at worst re-reading a few)
local next = -1
if #members / 2 == limit then next = offset + limit - raised end
return { raised, next }
