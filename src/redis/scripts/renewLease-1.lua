--[[
  Extends an agent's sweep lease while its sweep runs, but only if this process still
  holds it (it may have lapsed and been taken by another process meanwhile).

  KEYS[1] lease  STRING holder id

  ARGV[1] holder id
  ARGV[2] ms the lease lasts from now

  Returns 1 when extended, 0 when the lease was not ours.
]]
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0
