-- LrTasks stand-in.
-- SDK: LrTasks.startAsyncTask( func, optName )
-- SDK: LrTasks.sleep( seconds )           (only inside a task; never inside withWriteAccessDo)
-- SDK: LrTasks.execute( cmd ) -> exit status of the shell command
local Recorder = require "Recorder"
local Catalog = require "StandinCatalog"

local LrTasks = {}

function LrTasks.startAsyncTask(func, optName)
  Recorder.record("LrTasks.startAsyncTask", optName)
  func()
end

function LrTasks.sleep(seconds)
  assert(not Catalog.inWriteAccess(), "LrTasks.sleep inside withWriteAccessDo")
  assert(type(seconds) == "number" and seconds >= 0, "LrTasks.sleep: seconds")
  Recorder.record("LrTasks.sleep", seconds)
  os.execute(string.format("sleep %.3f", math.min(seconds, 1)))
end

function LrTasks.execute(cmd)
  Recorder.record("LrTasks.execute", cmd)
  local ok = os.execute(cmd)
  return ok
end

return LrTasks
