-- Puts an id where it can be claimed: the pending set with its order score, or, when its
-- visible-at time is later than `now`, the delayed set (the order score kept aside in the
-- scores hash until it is promoted). It leaves the other set, so an id requeued while
-- still delayed (a new score for a routed message) is in one place only.
local function addClaimable(pendingKey, delayedKey, scoresKey, id, score, visibleAt, now)
  if tonumber(visibleAt) > now then
    redis.call("ZREM", pendingKey, id)
    redis.call("ZADD", delayedKey, visibleAt, id)
    redis.call("HSET", scoresKey, id, score)
  else
    redis.call("ZREM", delayedKey, id)
    redis.call("HDEL", scoresKey, id)
    redis.call("ZADD", pendingKey, score, id)
  end
end
