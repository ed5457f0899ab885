--[[
  One consistent snapshot of a queue's depth.

  KEYS[1] pending  ZSET
  KEYS[2] delayed  ZSET
  KEYS[3] claims   ZSET

  Returns { ready, delayed, claimed }.
]]
local rcall = redis.call
return { rcall("ZCARD", KEYS[1]), rcall("ZCARD", KEYS[2]), rcall("ZCARD", KEYS[3]) }
