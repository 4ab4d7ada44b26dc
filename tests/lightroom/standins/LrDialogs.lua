-- LrDialogs stand-in: records what would be shown; answers from the fixture.
-- SDK: LrDialogs.message( message, info, style )                         style: "info" | "warning" | "critical"
-- SDK: LrDialogs.confirm( message, info, actionVerb, cancelVerb, otherVerb ) -> "ok" | "cancel" | "other"
-- SDK: LrDialogs.presentModalDialog( args ) -> "ok" | "cancel"           args: { title, contents, actionVerb }
local Recorder = require "Recorder"

local LrDialogs = { shown = {} }

function LrDialogs.message(message, info, style)
  Recorder.record("LrDialogs.message", message, info, style)
  LrDialogs.shown[#LrDialogs.shown + 1] = { kind = "message", title = message, text = info, style = style }
end

function LrDialogs.confirm(message, info, actionVerb, cancelVerb, otherVerb)
  Recorder.record("LrDialogs.confirm", message, info, actionVerb, cancelVerb, otherVerb)
  LrDialogs.shown[#LrDialogs.shown + 1] = { kind = "confirm", title = message, text = info }
  return Recorder.fixture.confirm or "cancel"
end

local function boundObject(view)
  if type(view) ~= "table" then return nil end
  if view.bind_to_object then return view.bind_to_object end
  for _, child in ipairs(view) do
    local found = boundObject(child)
    if found then return found end
  end
end

function LrDialogs.presentModalDialog(args)
  Recorder.record("LrDialogs.presentModalDialog", args.title)
  local props = boundObject(args.contents)
  for k, v in pairs(Recorder.fixture.dialogValues or {}) do props[k] = v end
  return Recorder.fixture.dialogVerdict or "ok"
end

return LrDialogs
