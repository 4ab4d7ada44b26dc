-- LrPathUtils stand-in.
-- SDK: LrPathUtils.child( path, childName ) -> path
-- SDK: LrPathUtils.getStandardFilePath( key ) -> path   keys used: home, temp
local Recorder = require "Recorder"
local LrPathUtils = {}
function LrPathUtils.child(path, childName)
  assert(type(path) == "string" and type(childName) == "string")
  return (path:gsub("/+$", "")) .. "/" .. childName
end
function LrPathUtils.getStandardFilePath(key)
  if key == "home" then return Recorder.fixture.home or os.getenv("HOME") end
  if key == "temp" then return "/tmp" end
  error("getStandardFilePath: key not used by the stand-in: " .. tostring(key))
end
return LrPathUtils
