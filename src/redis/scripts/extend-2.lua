--[[
  Pushes a live claim's expiry out (extend), if the lock still holds the token.

  KEYS[1] claims  ZSET id -> claim expiry ms
  KEYS[2] locks   HASH id -> claimToken

  ARGV[1] id
  ARGV[2] claimToken
  ARGV[3] new expiry (ms)

  Returns 1 when extended, 0 when the lock is gone or holds another token.
]]
local rcall = redis.call
local claimsKey, locksKey = KEYS[1], KEYS[2]

if rcall("HGET", locksKey, ARGV[1]) ~= ARGV[2] then return 0 end
rcall("ZADD", claimsKey, "XX", ARGV[3], ARGV[1])
return 1
