--[[
  Publishes a batch of message events and notes its completions as published, in one
  step: a completion is noted only if its PUBLISH went out, so the completion relay
  resends exactly those that never did (completion-relay.ts).

  KEYS[1] publishedCompletions  ZSET completion eventId -> ms it was published

  ARGV[1] channel (the tenant's events channel; a channel is not a key)
  ARGV[2] payload (JSON array of wire events)
  ARGV[3] now (ms)
  ARGV[4..] eventIds of the completions among the events

  Returns how many subscriber connections received the payload.
]]
local rcall = redis.call
local received = rcall("PUBLISH", ARGV[1], ARGV[2])
-- ZADD in chunks: unpack() takes at most a few thousand values
for i = 4, #ARGV, 1000 do
  local args = {}
  for j = i, math.min(i + 999, #ARGV) do
    args[#args + 1] = ARGV[3]
    args[#args + 1] = ARGV[j]
  end
  rcall("ZADD", KEYS[1], unpack(args))
end
return received
