--[[
  Moves delayed messages whose visible-at time has come into the pending set (the
  delayed-message promotion agent; claim does the same for its own queue).

  KEYS[1] pending  ZSET id -> order score
  KEYS[2] delayed  ZSET id -> visible-at ms
  KEYS[3] scores   HASH id -> order score of delayed ids

  ARGV[1] now (ms)
  ARGV[2] most ids to move in this call

  Returns the number of ids promoted.
]]
--- @include "includes/promoteDue"

return promoteDue(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]), tonumber(ARGV[2]))
