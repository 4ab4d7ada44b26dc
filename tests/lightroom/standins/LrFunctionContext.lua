-- LrFunctionContext stand-in.
-- SDK: LrFunctionContext.callWithContext( name, func, ... ) -> func( context, ... )
local Recorder = require "Recorder"
local LrFunctionContext = {}
function LrFunctionContext.callWithContext(name, func, ...)
  Recorder.record("LrFunctionContext.callWithContext", name)
  local context = { cleanups = {} }
  function context:addCleanupHandler(f) table.insert(self.cleanups, f) end
  local ok, err = pcall(func, context, ...)
  for _, f in ipairs(context.cleanups) do f() end
  if not ok then error(err, 0) end
end
return LrFunctionContext
