--[[
  Takes one operation from an API key's allowance and from its tenant's, or from
  neither. Each bucket is a GCRA: it holds its theoretical arrival time (TAT, ms); an
  operation may go when TAT + interval - burst * interval <= now, and then moves TAT on
  by one interval. A bucket that was never used, or whose key expired, is full.

  KEYS[1] the key's bucket     STRING TAT ms
  KEYS[2] the tenant's bucket  STRING TAT ms

  ARGV[1] now (ms)
  ARGV[2] key: ms between operations (1000 / per second); 0 = unlimited, bucket untouched
  ARGV[3] key: burst
  ARGV[4] tenant: ms between operations; 0 = unlimited
  ARGV[5] tenant: burst

  Returns 0 when the operation may go (every limited bucket took it), else the ms until
  each bucket that refused has room again (at least 1); nothing is taken then.
]]
local rcall = redis.call
local now = tonumber(ARGV[1])
local buckets = {
  { key = KEYS[1], interval = tonumber(ARGV[2]), burst = tonumber(ARGV[3]) },
  { key = KEYS[2], interval = tonumber(ARGV[4]), burst = tonumber(ARGV[5]) },
}

local wait = 0
for _, b in ipairs(buckets) do
  if b.interval > 0 then
    local tat = math.max(tonumber(rcall("GET", b.key)) or now, now)
    b.next = tat + b.interval
    wait = math.max(wait, b.next - b.burst * b.interval - now)
  end
end
if wait > 0 then return math.max(1, math.ceil(wait)) end

for _, b in ipairs(buckets) do
  if b.next then
    -- once TAT has passed the bucket is full again, so the key may go then
    rcall("SET", b.key, string.format("%.3f", b.next), "PX", math.ceil(b.next - now))
  end
end
return 0
