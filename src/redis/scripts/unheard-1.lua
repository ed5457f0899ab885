--[[
  Before publishing to a channel that reached no one last time: when it still has no
  subscriber, nobody can miss the events (they are committed already, and a subscription
  confirmed after this point catches up from MariaDB or wants later events only), so
  nothing is sent and the completions among them are noted as published.

  KEYS[1] publishedCompletions  ZSET completion eventId -> ms it was published

  ARGV[1] channel
  ARGV[2] now (ms)
  ARGV[3..] eventIds of the completions among the events

  Returns the channel's subscriber count: when it is not 0, nothing was noted, and the
  caller publishes (announce-1.lua).
]]
--- @include "includes/notePublished"

local subscribers = redis.call("PUBSUB", "NUMSUB", ARGV[1])[2]
if subscribers > 0 then return subscribers end
notePublished(KEYS[1], ARGV[2], 3)
return 0
