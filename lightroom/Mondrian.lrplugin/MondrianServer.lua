--[[ MondrianServer.lua: find Mondrian's local server, talk to it, start it when it is not running.

How the server is found (README "Lightroom Classic"; docs/LIGHTROOM.md): `mondrian serve` writes
<data>/server.json once it listens: its port, whether a token is needed, the token file's path and
the command that starts it again. <data> is, in order: the folder set in the Plug-in Manager;
$MONDRIAN_HOME/data; ~/Library/Application Support/Mondrian (macOS); %LOCALAPPDATA%\Mondrian
(Windows); ~/.local/share/Mondrian (Linux). The plug-in keeps no secret: when the server needs a
token (bound beyond loopback) it is read from the token file at each request.
]]

local LrHttp = import "LrHttp"
local LrFileUtils = import "LrFileUtils"
local LrPathUtils = import "LrPathUtils"
local LrTasks = import "LrTasks"

local json = require "MondrianJson"

local Server = {}

Server.FILE = "server.json"
Server.TIMEOUT = 30  -- seconds for one request
Server.HOW_TO_START = "Start it in Terminal with:\n\n    mondrian serve\n\n(or `python -m app serve` in Mondrian's "
  .. "folder), wait until it prints \"Mondrian API on http://127.0.0.1:5100\", then run the command again."

local function isWindows()
  return WIN_ENV == true or package.config:sub(1, 1) == "\\"
end

--- The folders where server.json may be, most specific first.
function Server.dataFolders(prefs)
  local out = {}
  if prefs and type(prefs.dataFolder) == "string" and prefs.dataFolder ~= "" then out[#out + 1] = prefs.dataFolder end
  local home = os.getenv("MONDRIAN_HOME")
  if home and home ~= "" then out[#out + 1] = LrPathUtils.child(home, "data") end
  if isWindows() then
    local local_ = os.getenv("LOCALAPPDATA")
    if local_ then out[#out + 1] = LrPathUtils.child(local_, "Mondrian") end
  else
    local user = LrPathUtils.getStandardFilePath("home")
    if user then
      out[#out + 1] = LrPathUtils.child(LrPathUtils.child(LrPathUtils.child(user, "Library"), "Application Support"),
                                        "Mondrian")
      out[#out + 1] = LrPathUtils.child(LrPathUtils.child(LrPathUtils.child(user, ".local"), "share"), "Mondrian")
    end
  end
  return out
end

--- server.json as a table (with `folder` added), or nil and where it was looked for.
function Server.find(prefs)
  local looked = {}
  for _, folder in ipairs(Server.dataFolders(prefs)) do
    local path = LrPathUtils.child(folder, Server.FILE)
    looked[#looked + 1] = path
    if LrFileUtils.exists(path) == "file" then
      local info, err = json.decode(LrFileUtils.readFile(path) or "")
      if type(info) == "table" and type(info.port) == "number" then
        info.folder, info.file = folder, path
        return info
      end
      return nil, path .. ": not a server file (" .. tostring(err) .. ")"
    end
  end
  return nil, "no " .. Server.FILE .. " in " .. table.concat(looked, ", ")
end

--- The base URL: loopback whatever address the server listens on (this machine is the client).
function Server.baseUrl(info)
  local host = info.host or "127.0.0.1"
  if host == "0.0.0.0" or host == "" or host == "::" or host == "localhost" then host = "127.0.0.1" end
  if host:find(":") then host = "[" .. host .. "]" end
  return string.format("http://%s:%d", host, info.port)
end

--- The Authorization header value, or nil when the server needs no token; error text when unreadable.
function Server.authorization(info)
  if not info.token_required then return nil end
  local path = info.token_file or LrPathUtils.child(info.folder, "api_token")
  if LrFileUtils.exists(path) ~= "file" then return nil, "the server needs its access token and " .. path .. " is missing" end
  local token = (LrFileUtils.readFile(path) or ""):gsub("%s+", "")
  return "Bearer " .. token
end

--- One request. Returns status, decoded body (or raw text), and on failure the error text with
-- `down = true` when nothing answered (connection refused, timeout).
function Server.request(info, method, path, body)
  local headers = { { field = "Accept", value = "application/json" } }
  local auth, authErr = Server.authorization(info)
  if authErr then return nil, nil, authErr end
  if auth then headers[#headers + 1] = { field = "Authorization", value = auth } end
  local url = Server.baseUrl(info) .. path
  local result, response
  if method == "GET" then
    result, response = LrHttp.get(url, headers, Server.TIMEOUT)
  else
    headers[#headers + 1] = { field = "Content-Type", value = "application/json" }
    result, response = LrHttp.post(url, body and json.encode(body) or "", headers, method, Server.TIMEOUT)
  end
  local status = response and response.status
  if not status then
    local e = response and response.error
    local why = e and (e.name or e.errorCode) or "no answer"
    return nil, nil, string.format("Mondrian's server at %s did not answer (%s)", Server.baseUrl(info), tostring(why)),
      true
  end
  local decoded = json.decode(result or "")
  if decoded == nil then decoded = result end
  if status >= 400 then
    local message = type(decoded) == "table" and decoded.error or tostring(result)
    return status, decoded, string.format("%s %s: %d %s", method, path, status, tostring(message))
  end
  return status, decoded
end

function Server.healthy(info)
  local status = Server.request(info, "GET", "/health")
  return status == 200
end

local function quote(arg)
  if isWindows() then return '"' .. arg:gsub('"', '\\"') .. '"' end
  return "'" .. arg:gsub("'", "'\\''") .. "'"
end

--- The shell command that starts the server in the background (from server.json's `command`, or
-- the Plug-in Manager's own command), or nil when neither is known.
function Server.startCommand(info, prefs)
  local custom = prefs and type(prefs.serverCommand) == "string" and prefs.serverCommand ~= "" and prefs.serverCommand
  local argv = info and type(info.command) == "table" and #info.command > 0 and info.command
  if not custom and not argv then return nil end
  local parts = {}
  if custom then
    parts[1] = custom
  else
    for i, a in ipairs(argv) do parts[i] = quote(a) end
  end
  local cmd = table.concat(parts, " ")
  local logFile = LrPathUtils.child((info and info.folder) or LrPathUtils.getStandardFilePath("temp"), "serve-lightroom.log")
  if isWindows() then
    return 'start "Mondrian" /B ' .. cmd .. " > " .. quote(logFile) .. " 2>&1"
  end
  local env = ""
  for k, v in pairs(info and info.env or {}) do env = env .. k .. "=" .. quote(v) .. " " end
  local cwd = info and info.cwd and ("cd " .. quote(info.cwd) .. " && ") or ""
  return cwd .. env .. "nohup " .. cmd .. " > " .. quote(logFile) .. " 2>&1 &"
end

--- A server that answers, starting it when allowed. ``ask(message)`` returns true to start it.
-- Returns info, or nil and the message for the dialog.
function Server.connect(prefs, ask, opts)
  opts = opts or {}
  local info, why = Server.find(prefs)
  if info and Server.healthy(info) then return info end
  local command = Server.startCommand(info, prefs)
  if not command then
    return nil, "Mondrian's server is not running (" .. tostring(why or "it does not answer") .. ").\n\n" .. Server.HOW_TO_START
  end
  if not ask("Mondrian's server is not running. Start it now?") then
    return nil, "Mondrian's server is not running.\n\n" .. Server.HOW_TO_START
  end
  LrTasks.execute(command)
  local waited, limit, step = 0, opts.startTimeout or 180, opts.step or 1
  while waited < limit do
    LrTasks.sleep(step)
    waited = waited + step
    local fresh = Server.find(prefs)  -- the new process rewrites server.json (its port may differ)
    if fresh and fresh.running ~= false and Server.healthy(fresh) then return fresh end
  end
  return nil, string.format("Mondrian's server did not start within %d s (command: %s).\n\n%s", limit, command,
                            Server.HOW_TO_START)
end

return Server
