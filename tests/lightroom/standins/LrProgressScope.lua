-- LrProgressScope stand-in: cancels itself once `cancelWhenFinished` frames are reported done.
-- SDK: LrProgressScope( args ) -> scope        args: { title, functionContext, parent, caption }
-- SDK: scope:setPortionComplete( done, total ) scope:setCaption( caption ) scope:setCancelable( bool )
-- SDK: scope:isCanceled() -> boolean           scope:done()
local Recorder = require "Recorder"

local Scope = {}
Scope.__index = Scope
function Scope:setPortionComplete(done, total)
  assert(type(done) == "number" and type(total) == "number" and total > 0 and done <= total)
  Recorder.record("scope:setPortionComplete", done, total)
  self.finished = done
end
function Scope:setCaption(caption) self.caption = caption end
function Scope:setCancelable(flag) self.cancelable = flag end
function Scope:isCanceled()
  local at = Recorder.fixture.cancelWhenFinished
  local cancel = at ~= nil and self.cancelable and (self.finished or 0) >= at
  if cancel then Recorder.record("scope:isCanceled", true) end
  return cancel
end
function Scope:done() Recorder.record("scope:done") self.isDone = true end

return function(args)
  assert(type(args) == "table" and type(args.title) == "string", "LrProgressScope{title=...}")
  Recorder.record("LrProgressScope", args.title)
  return setmetatable({ title = args.title }, Scope)
end
