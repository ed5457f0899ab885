-- Puts an id where it can be claimed: the pending set with its order score, or, when its
-- visible-at time is later than `now`, the delayed set (the order score kept aside in the
-- scores hash until it is promoted).
local function addClaimable(pendingKey, delayedKey, scoresKey, id, score, visibleAt, now)
  if tonumber(visibleAt) > now then
    redis.call("ZADD", delayedKey, visibleAt, id)
    redis.call("HSET", scoresKey, id, score)
  else
    redis.call("ZADD", pendingKey, score, id)
  end
end
