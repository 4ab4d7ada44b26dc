-- Recorder.lua: every stand-in call is recorded here (name and arguments), for the Python test.
local Recorder = { calls = {}, fixture = {} }

local function plain(v, depth)
  depth = depth or 0
  local kind = type(v)
  if kind == "table" then
    if depth > 3 then return "<table>" end
    if v.__describe then return v.__describe(v) end
    local out = {}
    for k, x in pairs(v) do
      if type(k) == "string" or type(k) == "number" then out[tostring(k)] = plain(x, depth + 1) end
    end
    return out
  end
  if kind == "function" or kind == "userdata" then return "<" .. kind .. ">" end
  return v
end

function Recorder.record(name, ...)
  local args = {}
  for i = 1, select("#", ...) do args[i] = plain((select(i, ...))) end
  Recorder.calls[#Recorder.calls + 1] = { name = name, args = args }
end

function Recorder.count(name)
  local n = 0
  for _, c in ipairs(Recorder.calls) do if c.name == name then n = n + 1 end end
  return n
end

return Recorder
