-- Notes completion event ids as published at `now` (ARGV[from..] are the ids), in ZADDs
-- of 1,000: unpack() takes at most a few thousand values.
local function notePublished(publishedKey, now, from)
  for i = from, #ARGV, 1000 do
    local args = {}
    for j = i, math.min(i + 999, #ARGV) do
      args[#args + 1] = now
      args[#args + 1] = ARGV[j]
    end
    redis.call("ZADD", publishedKey, unpack(args))
  end
end
