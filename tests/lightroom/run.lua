-- run.lua PLUGIN_DIR STANDINS_DIR FIXTURE.json OUT.json
-- Runs one of the plug-in's menu scripts (or its Lua unit tests) under the recording stand-ins, with
-- package.path limited to the plug-in and the stand-ins, and writes what happened as JSON.
local pluginDir, standinsDir, fixturePath, outPath = arg[1], arg[2], arg[3], arg[4]

STANDIN_SYSTEM_PATH, STANDIN_SYSTEM_CPATH = package.path, package.cpath  -- for lua-socket in LrHttp only
package.path = pluginDir .. "/?.lua;" .. standinsDir .. "/?.lua"
package.cpath = ""

-- Lightroom's globals.
_PLUGIN = { id = "app.mondrian.lightroom", path = pluginDir, enabled = true }
MAC_ENV, WIN_ENV = true, false
function LOC(text)
  assert(type(text) == "string" and text:find("^%$%$%$/[%w/]+="), "LOC needs \"$$$/Key=Default\": " .. tostring(text))
  return (text:gsub("^[^=]*=", ""))
end
function import(name)
  assert(type(name) == "string" and name:find("^Lr%u%a+$"), "import of a non-Lightroom namespace: " .. tostring(name))
  return require(name)
end

local Recorder = require "Recorder"
local Catalog = require "StandinCatalog"
local json = require "MondrianJson"

local function readAll(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

local fixture = assert(json.decode(readAll(fixturePath)))
Recorder.fixture = fixture

-- The plug-in's metadata provider, loaded as Lightroom would (a file returning a table).
local definition = dofile(pluginDir .. "/MetadataDefinition.lua")
Catalog.declared = {}
for _, f in ipairs(definition.metadataFieldsForPhotos) do Catalog.declared[f.id] = f end

local out = {}
local ok, err = pcall(function()
  if fixture.unit then
    out.unit = dofile(standinsDir .. "/../unit.lua")
    return
  end
  local catalog = Catalog.build(fixture.photos or {})
  Recorder.catalog = catalog
  dofile(pluginDir .. "/" .. fixture.script)
  out.photos = Catalog.dump(catalog)
  out.undoSteps = Catalog.undoSteps
end)
out.ok, out.error = ok, err and tostring(err) or nil
out.calls = Recorder.calls
out.dialogs = require("LrDialogs").shown
local f = assert(io.open(outPath, "wb"))
f:write(json.encode(out))
f:close()
