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
--- @include "includes/notePublished"

local received = redis.call("PUBLISH", ARGV[1], ARGV[2])
notePublished(KEYS[1], ARGV[3], 4)
return received
