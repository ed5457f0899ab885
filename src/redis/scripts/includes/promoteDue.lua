-- Moves up to `limit` delayed ids whose visible-at time has come into the pending set,
-- each with the order score kept for it in the scores hash.
local function promoteDue(pendingKey, delayedKey, scoresKey, now, limit)
  local due = redis.call("ZRANGEBYSCORE", delayedKey, "-inf", now, "LIMIT", 0, limit)
  for _, id in ipairs(due) do
    local score = redis.call("HGET", scoresKey, id)
    redis.call("ZADD", pendingKey, score or now, id)
    redis.call("HDEL", scoresKey, id)
    redis.call("ZREM", delayedKey, id)
  end
  return #due
end
