--[[
  Gives up an agent's sweep lease, but only if this process still holds it (it may
  have lapsed and been taken by another process meanwhile).

  KEYS[1] lease  STRING holder id

  ARGV[1] holder id

  Returns 1 when released, 0 when the lease was not ours.
]]
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
