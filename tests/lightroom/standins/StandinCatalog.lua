-- StandinCatalog.lua: an in-memory catalog with LrCatalog / LrPhoto / LrKeyword's methods.
-- SDK: catalog:getTargetPhotos() -> { LrPhoto }            catalog:getTargetPhoto() -> LrPhoto or nil
-- SDK: catalog:withWriteAccessDo( actionName, func, timeoutParams ) -> "executed" | "aborted"
-- SDK: catalog:createKeyword( keywordName, synonyms, includeOnExport, parent, returnExisting ) -> LrKeyword
-- SDK: photo:getRawMetadata( key )        keys used: path, fileFormat, rating, pickStatus, colorNameForLabel, keywords
-- SDK: photo:getFormattedMetadata( key )  keys used: fileName, caption
-- SDK: photo:setRawMetadata( key, value ) keys used: rating, pickStatus, colorNameForLabel, caption (write access)
-- SDK: photo:checkPhotoAvailability() -> boolean (true when the file is on disk)
-- SDK: photo:getPropertyForPlugin( plugin, fieldId ) -> value
-- SDK: photo:setPropertyForPlugin( plugin, fieldId, value )  (write access; fieldId declared by the metadata provider)
-- SDK: photo:addKeyword( keyword ) / photo:removeKeyword( keyword )  (write access)
-- SDK: keyword:getName() -> string        keyword:getParent() -> LrKeyword or nil
local Recorder = require "Recorder"

local Catalog = {}
local writing = false
Catalog.undoSteps = {}
Catalog.keywords = {}
Catalog.declared = nil  -- field id -> definition, from the plug-in's MetadataDefinition.lua

function Catalog.inWriteAccess() return writing end

local function needWrite(what)
  assert(writing, what .. " outside catalog:withWriteAccessDo")
end

local Keyword = {}
Keyword.__index = Keyword
function Keyword:getName() return self.name end
function Keyword:getParent() return self.parent end
Keyword.__describe = function(k) return (k.parent and (k.parent.name .. "|") or "") .. k.name end

local LABELS = { red = true, yellow = true, green = true, blue = true, purple = true, none = true }
local RAW = { path = true, fileFormat = true, rating = true, pickStatus = true, colorNameForLabel = true,
              keywords = true, isVirtualCopy = true }
local FORMATTED = { fileName = true, caption = true }

local Photo = {}
Photo.__index = Photo
Photo.__describe = function(p) return p.fileName end

function Photo:getRawMetadata(key)
  assert(RAW[key], "getRawMetadata: key not used by the stand-in: " .. tostring(key))
  if key == "keywords" then
    local copy = {}
    for i, k in ipairs(self.keywords) do copy[i] = k end
    return copy
  end
  if key == "colorNameForLabel" then return self.label or "" end
  if key == "pickStatus" then return self.pick or 0 end
  return self[key]
end

function Photo:getFormattedMetadata(key)
  assert(FORMATTED[key], "getFormattedMetadata: key not used by the stand-in: " .. tostring(key))
  if key == "caption" then return self.caption or "" end
  return self[key]
end

function Photo:checkPhotoAvailability()
  local f = io.open(self.path, "rb")
  if f then f:close() end
  return f ~= nil
end

function Photo:setRawMetadata(key, value)
  needWrite("setRawMetadata")
  Recorder.record("photo:setRawMetadata", self.fileName, key, value)
  if key == "rating" then
    assert(value == nil or (type(value) == "number" and value >= 0 and value <= 5 and value % 1 == 0), "rating 0-5")
    self.rating = value
  elseif key == "pickStatus" then
    assert(value == -1 or value == 0 or value == 1, "pickStatus -1/0/1")
    self.pick = value
  elseif key == "colorNameForLabel" then
    assert(LABELS[value], "colorNameForLabel: " .. tostring(value))
    self.label = value ~= "none" and value or nil
  elseif key == "caption" then
    assert(type(value) == "string", "caption is text")
    self.caption = value
  else
    error("setRawMetadata: key not used by the stand-in: " .. tostring(key))
  end
end

function Photo:getPropertyForPlugin(plugin, fieldId)
  assert(plugin == _PLUGIN, "getPropertyForPlugin: pass _PLUGIN")
  assert(Catalog.declared[fieldId], "undeclared plug-in field " .. tostring(fieldId))
  return self.plugin[fieldId]
end

function Photo:setPropertyForPlugin(plugin, fieldId, value)
  needWrite("setPropertyForPlugin")
  assert(plugin == _PLUGIN, "setPropertyForPlugin: pass _PLUGIN")
  assert(Catalog.declared[fieldId], "undeclared plug-in field " .. tostring(fieldId))
  assert(value == nil or type(value) == "string", fieldId .. ": a string field takes text or nil")
  self.plugin[fieldId] = value
end

function Photo:addKeyword(keyword)
  needWrite("addKeyword")
  assert(getmetatable(keyword) == Keyword, "addKeyword takes an LrKeyword")
  for _, k in ipairs(self.keywords) do if k == keyword then return end end
  table.insert(self.keywords, keyword)
end

function Photo:removeKeyword(keyword)
  needWrite("removeKeyword")
  for i, k in ipairs(self.keywords) do
    if k == keyword then table.remove(self.keywords, i) return end
  end
end

function Catalog.keyword(name, parent)
  for _, k in ipairs(Catalog.keywords) do
    if k.name == name and k.parent == parent then return k end
  end
  local k = setmetatable({ name = name, parent = parent }, Keyword)
  table.insert(Catalog.keywords, k)
  return k
end

local CatalogObject = {}
CatalogObject.__index = CatalogObject

function CatalogObject:getTargetPhotos() return self.photos end
function CatalogObject:getTargetPhoto() return self.photos[1] end

function CatalogObject:withWriteAccessDo(actionName, func, timeoutParams) -- luacheck: no unused args
  assert(type(actionName) == "string" and actionName ~= "", "withWriteAccessDo: an action name (the Undo item)")
  assert(not writing, "withWriteAccessDo nested")
  assert(timeoutParams == nil or type(timeoutParams.timeout) == "number", "timeoutParams.timeout")
  Recorder.record("catalog:withWriteAccessDo", actionName, timeoutParams)
  table.insert(Catalog.undoSteps, actionName)
  writing = true
  local ok, err = pcall(func, {})
  writing = false
  if not ok then error(err, 0) end
  return "executed"
end

function CatalogObject:createKeyword(keywordName, synonyms, includeOnExport, parent, returnExisting) -- luacheck: ignore self
  needWrite("createKeyword")
  assert(type(keywordName) == "string" and keywordName ~= "", "keyword name")
  assert(type(synonyms) == "table" and type(includeOnExport) == "boolean" and returnExisting == true)
  return Catalog.keyword(keywordName, parent)
end

--- A catalog from the fixture's photos: {path, fileName, fileFormat, rating, pick, label, caption,
-- keywords = {"Parent|child", ...}, plugin = {...}, virtualOf = index}
function Catalog.build(spec)
  local photos = {}
  for i, p in ipairs(spec) do
    local photo = setmetatable({ path = p.path, fileName = p.fileName or p.path:match("[^/]+$"),
                                 fileFormat = p.fileFormat or "JPG", rating = p.rating, pick = p.pick,
                                 label = p.label, caption = p.caption, plugin = p.plugin or {}, keywords = {},
                                 isVirtualCopy = p.virtual or false, index = i }, Photo)
    for _, word in ipairs(p.keywords or {}) do
      local parentName, child = word:match("^(.-)|(.+)$")
      local parent = parentName and Catalog.keyword(parentName, nil) or nil
      table.insert(photo.keywords, Catalog.keyword(child or word, parent))
    end
    photos[i] = photo
  end
  return setmetatable({ photos = photos }, CatalogObject)
end

function Catalog.dump(catalog)
  local out = {}
  for i, p in ipairs(catalog.photos) do
    local words = {}
    for j, k in ipairs(p.keywords) do words[j] = Keyword.__describe(k) end
    table.sort(words)
    out[i] = { path = p.path, fileName = p.fileName, rating = p.rating, pick = p.pick or 0, label = p.label,
               caption = p.caption, keywords = words, plugin = p.plugin }
  end
  return out
end

return Catalog
