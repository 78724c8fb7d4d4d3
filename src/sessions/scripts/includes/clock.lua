-- clock.lua (included): Redis' clock, one for every instance, frozen while a script runs.

-- Unix µs: about 1.8e15, exact in a Lua number (53 bits).
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- Unix ms.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
