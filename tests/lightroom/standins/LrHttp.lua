-- LrHttp stand-in: performs the REAL request over loopback with lua-socket.
-- SDK: LrHttp.get( url, headers, timeout ) -> body, responseHeaders
-- SDK: LrHttp.post( url, postBody, headers, method, timeout, totalSize ) -> body, responseHeaders
-- responseHeaders.status is the HTTP status; on a network failure body is nil and
-- responseHeaders.error = { errorCode, name, nativeCode }.
local Recorder = require "Recorder"

local http, ltn12
do  -- lua-socket from the system, loaded here only: the plug-in's own path cannot reach it
  local path, cpath = package.path, package.cpath
  package.path, package.cpath = STANDIN_SYSTEM_PATH, STANDIN_SYSTEM_CPATH
  http, ltn12 = require "socket.http", require "ltn12"
  package.path, package.cpath = path, cpath
end

local LrHttp = {}

local function request(method, url, body, headers, timeout)
  assert(type(url) == "string" and url:find("^https?://"), "LrHttp: url must be an http URL")
  local plain = {}
  for _, h in ipairs(headers or {}) do
    assert(type(h.field) == "string" and type(h.value) == "string", "LrHttp: headers are {field=, value=} pairs")
    plain[h.field:lower()] = h.value
  end
  if body then plain["content-length"] = tostring(#body) end
  http.TIMEOUT = timeout or 30
  local sink = {}
  local ok, status, got = http.request {
    url = url, method = method, headers = plain, source = body and ltn12.source.string(body) or nil,
    sink = ltn12.sink.table(sink),
  }
  if not ok then
    return nil, { error = { errorCode = "networkError", name = tostring(status), nativeCode = -1 } }
  end
  local response = { status = status }
  for k, v in pairs(got or {}) do response[#response + 1] = { field = k, value = v } end
  return table.concat(sink), response
end

function LrHttp.get(url, headers, timeout)
  Recorder.record("LrHttp.get", url)
  return request("GET", url, nil, headers, timeout)
end

function LrHttp.post(url, postBody, headers, method, timeout, totalSize) -- luacheck: no unused args
  Recorder.record("LrHttp.post", url, method or "POST", postBody)
  return request(method or "POST", url, postBody, headers, timeout)
end

return LrHttp
