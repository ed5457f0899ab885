--[[
  Takes up to n operations from an API key's allowance and from its tenant's, the same
  number from both, or none. Each bucket is a GCRA: it holds its theoretical arrival
  time (TAT, ms); k operations may go when TAT + k * interval - burst * interval <= now,
  and then move TAT on by k intervals. A bucket that was never used, or whose key
  expired, is full.

  KEYS[1] the key's bucket     STRING TAT ms
  KEYS[2] the tenant's bucket  STRING TAT ms

  ARGV[1] now (ms)
  ARGV[2] key: ms between operations (1000 / per second); 0 = unlimited, bucket untouched
  ARGV[3] key: burst
  ARGV[4] tenant: ms between operations; 0 = unlimited
  ARGV[5] tenant: burst
  ARGV[6] n, the most operations to take

  Returns {taken, wait}: taken >= 1 and wait 0 when operations may go, else taken 0 and
  the ms until every bucket that refused has room for one again (at least 1); nothing
  is taken then.
]]
local rcall = redis.call
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[6])
local buckets = {
  { key = KEYS[1], interval = tonumber(ARGV[2]), burst = tonumber(ARGV[3]) },
  { key = KEYS[2], interval = tonumber(ARGV[4]), burst = tonumber(ARGV[5]) },
}

local taken = n
local wait = 0
for _, b in ipairs(buckets) do
  if b.interval > 0 then
    b.tat = math.max(tonumber(rcall("GET", b.key)) or now, now)
    -- the 1e-9 keeps an interval such as 1000 / 3 from losing an operation to rounding
    local room = math.floor((now + b.burst * b.interval - b.tat) / b.interval + 1e-9)
    taken = math.min(taken, room)
    if room < 1 then wait = math.max(wait, b.tat + b.interval - b.burst * b.interval - now) end
  end
end
if taken < 1 then return { 0, math.max(1, math.ceil(wait)) } end

for _, b in ipairs(buckets) do
  if b.tat then
    local tat = b.tat + taken * b.interval
    -- once TAT has passed the bucket is full again, so the key may go then
    rcall("SET", b.key, string.format("%.3f", tat), "PX", math.ceil(tat - now))
  end
end
return { taken, 0 }
