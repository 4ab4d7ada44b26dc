-- LrFileUtils stand-in.
-- SDK: LrFileUtils.exists( path ) -> false | "file" | "directory"
-- SDK: LrFileUtils.readFile( path ) -> contents
local LrFileUtils = {}
function LrFileUtils.exists(path)
  local f = io.open(path, "rb")
  if not f then return false end
  local ok = f:read(0)
  f:close()
  return ok and "file" or "directory"
end
function LrFileUtils.readFile(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end
return LrFileUtils
