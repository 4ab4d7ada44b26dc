--[[ MondrianAsk.lua: "Ask about this photo": a question to the advisor about the photo's critique.

Uses the critique already written to the photo (its job id, plug-in field `jobId`); a photo without
one is critiqued first (a review of that one file). The answer is shown in a dialog; the
conversation is kept by Mondrian (GET /jobs/{id}/messages) like the window's.
]]

local LrBinding = import "LrBinding"
local LrDialogs = import "LrDialogs"
local LrView = import "LrView"

local Review = require "MondrianReview"
local Server = require "MondrianServer"

local Ask = {}

local TITLE = LOC "$$$/Mondrian/Ask=Ask Mondrian about this photo"

--- The question from a dialog, or nil when cancelled.
function Ask.question(context, name)
  local props = LrBinding.makePropertyTable(context)
  props.question = ""
  local f = LrView.osFactory()
  local contents = f:column {
    bind_to_object = props,
    f:static_text { title = name },
    f:edit_field { value = LrView.bind("question"), width_in_chars = 50, height_in_lines = 3 },
  }
  local verdict = LrDialogs.presentModalDialog { title = TITLE, contents = contents,
                                                 actionVerb = LOC "$$$/Mondrian/AskVerb=Ask" }
  if verdict ~= "ok" or not props.question:find("%S") then return nil end
  return props.question
end

function Ask.run(catalog, photo, prefs, context)
  prefs = prefs or {}
  local jobId = photo:getPropertyForPlugin(_PLUGIN, "jobId")
  if not jobId or photo:getPropertyForPlugin(_PLUGIN, "stage") ~= "full" then
    local outcome = Review.run("critique", catalog, { photo }, prefs, context)
    if outcome.state ~= "completed" then return outcome end
    jobId = photo:getPropertyForPlugin(_PLUGIN, "jobId")
    if not jobId then return { state = "no-critique" } end
  end
  local question = Ask.question(context, photo:getFormattedMetadata("fileName") or "")
  if not question then return { state = "cancelled" } end
  local info, why = Server.connect(prefs, function() return false end)
  if not info then
    LrDialogs.message(TITLE, why, "critical")
    return { state = "down", message = why }
  end
  local _, answer, err = Server.request(info, "POST", "/jobs/" .. jobId .. "/messages",
                                        { question = question, stream = false, photo = photo:getRawMetadata("path") })
  if err then
    LrDialogs.message(TITLE, err, "critical")
    return { state = "failed", message = err }
  end
  LrDialogs.message(TITLE, tostring(answer.answer), "info")
  return { state = "answered", answer = answer.answer }
end

return Ask
