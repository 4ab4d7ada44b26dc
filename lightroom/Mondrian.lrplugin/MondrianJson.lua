--[[ MondrianJson.lua: a small pure-Lua JSON encoder/decoder for Lua 5.1 (Lightroom has none).

Written for this plug-in; MIT licence (see LICENSE.txt in this folder). Numbers are written and
read independently of the C locale (Lightroom runs under the user's locale, where strtod may want
"1,5"). JSON null decodes to nil inside objects; in arrays it becomes the sentinel json.null so
positions are kept. Encoding: a table with a [1] (or json.array marker) is an array, else an object
with string keys; json.emptyArray encodes as [].
]]

local json = {}

json.null = setmetatable({}, { __tostring = function() return "null" end })
json.emptyArray = setmetatable({}, { __tostring = function() return "[]" end })

local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f', ['\n'] = '\\n',
                  ['\r'] = '\\r', ['\t'] = '\\t' }

local function encodeString(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function encodeNumber(n)
  if n ~= n or n == math.huge or n == -math.huge then
    error("JSON cannot hold the number " .. tostring(n))
  end
  if n == math.floor(n) and math.abs(n) < 2^53 then
    return string.format("%d", n)
  end
  return (string.format("%.14g", n):gsub(",", "."))  -- a locale's decimal comma
end

local encodeValue

local function isArray(t)
  if t == json.emptyArray then return true end
  if next(t) == nil then return false end
  local n = 0
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k ~= math.floor(k) then return false end
    n = math.max(n, k)
  end
  return true, n
end

encodeValue = function(v, depth)
  local kind = type(v)
  if depth > 64 then error("JSON nesting deeper than 64") end
  if v == nil or v == json.null then return "null" end
  if kind == "boolean" then return v and "true" or "false" end
  if kind == "number" then return encodeNumber(v) end
  if kind == "string" then return encodeString(v) end
  if kind ~= "table" then error("JSON cannot hold a " .. kind) end
  local array, n = isArray(v)
  local out = {}
  if array then
    for i = 1, n or 0 do out[i] = encodeValue(v[i], depth + 1) end
    return "[" .. table.concat(out, ",") .. "]"
  end
  local keys = {}
  for k in pairs(v) do
    if type(k) ~= "string" then error("JSON object keys must be text, not " .. type(k)) end
    keys[#keys + 1] = k
  end
  table.sort(keys)  -- stable output (tests, logs)
  for i, k in ipairs(keys) do out[i] = encodeString(k) .. ":" .. encodeValue(v[k], depth + 1) end
  return "{" .. table.concat(out, ",") .. "}"
end

function json.encode(v)
  return encodeValue(v, 0)
end

-- Decoding ------------------------------------------------------------------------------------

local function fail(_, pos, what)
  error(string.format("JSON: %s at character %d", what, pos), 0)
end

local function skip(text, pos)
  return text:find("[^ \t\r\n]", pos) or #text + 1
end

local function utf8(code)
  if code < 0x80 then return string.char(code) end
  if code < 0x800 then
    return string.char(0xC0 + math.floor(code / 0x40), 0x80 + code % 0x40)
  end
  if code < 0x10000 then
    return string.char(0xE0 + math.floor(code / 0x1000), 0x80 + math.floor(code / 0x40) % 0x40, 0x80 + code % 0x40)
  end
  return string.char(0xF0 + math.floor(code / 0x40000), 0x80 + math.floor(code / 0x1000) % 0x40,
                     0x80 + math.floor(code / 0x40) % 0x40, 0x80 + code % 0x40)
end

local unescapes = { ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n', r = '\r', t = '\t' }

local function decodeString(text, pos)
  local out, i = {}, pos + 1
  while true do
    local j = text:find('["\\%c]', i)
    if not j then fail(text, pos, "unterminated string") end
    out[#out + 1] = text:sub(i, j - 1)
    local c = text:sub(j, j)
    if c == '"' then return table.concat(out), j + 1 end
    if c ~= "\\" then fail(text, j, "control character in a string") end
    local e = text:sub(j + 1, j + 1)
    if e == "u" then
      local hex = text:sub(j + 2, j + 5)
      if not hex:find("^%x%x%x%x$") then fail(text, j, "bad \\u escape") end
      local code = tonumber(hex, 16)
      local nextPos = j + 6
      if code >= 0xD800 and code <= 0xDBFF and text:sub(nextPos, nextPos + 1) == "\\u" then
        local low = tonumber(text:sub(nextPos + 2, nextPos + 5), 16)
        if low and low >= 0xDC00 and low <= 0xDFFF then
          code = 0x10000 + (code - 0xD800) * 0x400 + (low - 0xDC00)
          nextPos = nextPos + 6
        end
      end
      out[#out + 1] = utf8(code)
      i = nextPos
    else
      if not unescapes[e] then fail(text, j, "bad escape \\" .. e) end
      out[#out + 1] = unescapes[e]
      i = j + 2
    end
  end
end

local decimalPoint = tostring(0.5):sub(2, 2)  -- "." or the locale's ","

local function decodeNumber(text, pos)
  local s = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
  if not s or s == "" or s == "-" then fail(text, pos, "bad number") end
  local n = tonumber(s) or tonumber((s:gsub("%.", decimalPoint)))
  if not n then fail(text, pos, "bad number " .. s) end
  return n, pos + #s
end

local decodeValue

local function decodeArray(text, pos, depth)
  local out, n = {}, 0
  pos = skip(text, pos + 1)
  if text:sub(pos, pos) == "]" then return out, pos + 1 end
  while true do
    local v
    v, pos = decodeValue(text, pos, depth + 1)
    n = n + 1
    if v == nil then v = json.null end
    out[n] = v
    pos = skip(text, pos)
    local c = text:sub(pos, pos)
    if c == "]" then return out, pos + 1 end
    if c ~= "," then fail(text, pos, "expected , or ] in an array") end
    pos = skip(text, pos + 1)
  end
end

local function decodeObject(text, pos, depth)
  local out = {}
  pos = skip(text, pos + 1)
  if text:sub(pos, pos) == "}" then return out, pos + 1 end
  while true do
    if text:sub(pos, pos) ~= '"' then fail(text, pos, "expected a key") end
    local key
    key, pos = decodeString(text, pos)
    pos = skip(text, pos)
    if text:sub(pos, pos) ~= ":" then fail(text, pos, "expected :") end
    local v
    v, pos = decodeValue(text, skip(text, pos + 1), depth + 1)
    out[key] = v
    pos = skip(text, pos)
    local c = text:sub(pos, pos)
    if c == "}" then return out, pos + 1 end
    if c ~= "," then fail(text, pos, "expected , or } in an object") end
    pos = skip(text, pos + 1)
  end
end

decodeValue = function(text, pos, depth)
  if depth > 256 then fail(text, pos, "nesting too deep") end
  pos = skip(text, pos)
  local c = text:sub(pos, pos)
  if c == "{" then return decodeObject(text, pos, depth) end
  if c == "[" then return decodeArray(text, pos, depth) end
  if c == '"' then return decodeString(text, pos) end
  if c == "-" or c:find("%d") then return decodeNumber(text, pos) end
  if text:sub(pos, pos + 3) == "true" then return true, pos + 4 end
  if text:sub(pos, pos + 4) == "false" then return false, pos + 5 end
  if text:sub(pos, pos + 3) == "null" then return nil, pos + 4 end
  fail(text, pos, c == "" and "unexpected end" or ("unexpected " .. c))
end

--- Decode ``text``; returns the value, or nil and the error text (never raises).
function json.decode(text)
  if type(text) ~= "string" then return nil, "JSON: not text" end
  local ok, value, pos = pcall(decodeValue, text, 1, 0)
  if not ok then return nil, value end
  if skip(text, pos) <= #text then return nil, string.format("JSON: trailing text at character %d", pos) end
  return value
end

return json
