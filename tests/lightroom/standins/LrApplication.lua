-- LrApplication stand-in.
-- SDK: LrApplication.activeCatalog() -> LrCatalog
local Recorder = require "Recorder"
local LrApplication = {}
function LrApplication.activeCatalog()
  Recorder.record("LrApplication.activeCatalog")
  return Recorder.catalog
end
return LrApplication
