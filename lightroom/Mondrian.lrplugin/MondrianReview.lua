--[[ MondrianReview.lua: the commands' work: selected photos -> a review on the server -> the catalog.

The thin Lightroom layer. The decisions live in pure modules: MondrianPolicy (what may be written),
MondrianFields (a frame as fields), MondrianPoll (following the review), MondrianServer (finding and
starting the server). Virtual copies share their master's file: each path is reviewed once and the
result is written to every copy as the policy allows. Missing or offline files and videos are
reported per photo and not sent. The user's own pick flags and stars are sent with the paths (read
from the catalog, never Mondrian's own earlier values), so Lightroom's cull reaches Mondrian.
]]

local LrDialogs = import "LrDialogs"
local LrProgressScope = import "LrProgressScope"
local LrTasks = import "LrTasks"

local json = require "MondrianJson"
local Fields = require "MondrianFields"
local Policy = require "MondrianPolicy"
local Poll = require "MondrianPoll"
local Server = require "MondrianServer"

local Review = {}

Review.CHUNK = 50  -- photos per catalog write: one Undo in Lightroom takes back one chunk
Review.WRITE_TIMEOUT = 60
Review.POLL_INTERVAL = 1
Review.PARENT_KEYWORD = "Mondrian"
-- How "Triage selected" asks for the fast stage; a server without it answers 400 "unknown field"
-- and the plug-in runs the review it has (full critiques) and reads the scores it gets.
Review.TRIAGE_REQUEST = { triage_only = true }

local TITLE = LOC "$$$/Mondrian/Title=Mondrian"

local LABELS = { red = true, yellow = true, green = true, blue = true, purple = true }

local function leaf(path)
  return (tostring(path):match("[^/\\]+$")) or tostring(path)
end

--- The photos grouped by file. Returns order (paths), byPath (path -> photos), problems ({name, reason}).
function Review.collect(photos)
  local order, byPath, problems = {}, {}, {}
  for _, photo in ipairs(photos) do
    local path = photo:getRawMetadata("path")
    local name = photo:getFormattedMetadata("fileName") or leaf(path)
    if photo:getRawMetadata("fileFormat") == "VIDEO" then
      problems[#problems + 1] = { name = name, reason = "a video: Mondrian critiques photos" }
    elseif not photo:checkPhotoAvailability() then
      problems[#problems + 1] = { name = name, reason = "missing or offline (" .. tostring(path) .. ")" }
    else
      if not byPath[path] then
        byPath[path] = {}
        order[#order + 1] = path
      end
      table.insert(byPath[path], photo)
    end
  end
  return order, byPath, problems
end

local function writtenRecord(photo)
  local text = photo:getPropertyForPlugin(_PLUGIN, "written")
  local record = text and json.decode(text)
  return type(record) == "table" and record or {}
end

--- The photo's standard fields now, in the policy's terms.
function Review.current(photo)
  local label = photo:getRawMetadata("colorNameForLabel")
  if not LABELS[label] then label = nil end
  return { rating = photo:getRawMetadata("rating"), pick = photo:getRawMetadata("pickStatus") or 0,
           label = label, caption = photo:getFormattedMetadata("caption") }
end

--- The user's cull for the server: pick flag and stars, leaving out values Mondrian wrote itself.
function Review.userCull(photos)
  local flag, stars
  for _, photo in ipairs(photos) do
    local now, written = Review.current(photo), writtenRecord(photo)
    if flag == nil and now.pick ~= 0 and written.pick ~= now.pick then
      flag = now.pick == 1 and "pick" or "reject"
    end
    if stars == nil and now.rating and now.rating > 0 and written.rating ~= now.rating then stars = now.rating end
  end
  return flag, stars
end

local function mondrianKeywords(photo)
  local out = {}
  for _, keyword in ipairs(photo:getRawMetadata("keywords") or {}) do
    local parent = keyword:getParent()
    if parent and parent:getName() == Review.PARENT_KEYWORD and parent:getParent() == nil then
      out[keyword:getName()] = keyword
    end
  end
  return out
end

local SETTERS = {
  rating = function(photo, v) photo:setRawMetadata("rating", v) end,
  pick = function(photo, v) photo:setRawMetadata("pickStatus", v) end,
  label = function(photo, v) photo:setRawMetadata("colorNameForLabel", v) end,
  caption = function(photo, v) photo:setRawMetadata("caption", v) end,
}

--- Write one result to one photo (inside withWriteAccessDo). Returns the changes and the skipped.
function Review.apply(catalog, photo, result, prefs, parent)
  local changes, skipped, record = Policy.plan(Review.current(photo), result.proposed, prefs, writtenRecord(photo))
  for _, change in ipairs(changes) do SETTERS[change.field](photo, change.to) end
  for _, id in ipairs(Review.PLUGIN_FIELDS) do
    photo:setPropertyForPlugin(_PLUGIN, id, result.plugin[id])
  end
  photo:setPropertyForPlugin(_PLUGIN, "written", json.encode(record))
  local want, have = {}, mondrianKeywords(photo)
  for _, word in ipairs(result.keywords) do want[word] = true end
  for word, keyword in pairs(have) do
    if not want[word] then photo:removeKeyword(keyword) end
  end
  for _, word in ipairs(result.keywords) do
    if not have[word] then photo:addKeyword(catalog:createKeyword(word, {}, true, parent, true)) end
  end
  return changes, skipped
end

Review.PLUGIN_FIELDS = { "stage", "grade", "overall", "summary", "jobId", "problems", "burst" }
for _, d in ipairs(Fields.DIMENSIONS) do table.insert(Review.PLUGIN_FIELDS, d) end

--- Start the review of ``order`` on the server; returns its id or nil and the error text.
function Review.start(info, kind, order, byPath, prefs)
  local files = {}
  for i, path in ipairs(order) do
    local flag, stars = Review.userCull(byPath[path])
    files[i] = { path = path, flag = flag, stars = stars }
  end
  local body = { files = files }
  if type(prefs.advisor) == "string" and prefs.advisor ~= "" then body.advisor = prefs.advisor end
  if type(prefs.mode) == "string" and prefs.mode ~= "" then body.mode = prefs.mode end
  if kind == "triage" then
    for k, v in pairs(Review.TRIAGE_REQUEST) do body[k] = v end
  end
  local status, answer, err = Server.request(info, "POST", "/reviews", body)
  if kind == "triage" and status == 400 and type(answer) == "table" and tostring(answer.error):find("unknown field") then
    for k in pairs(Review.TRIAGE_REQUEST) do body[k] = nil end  -- no triage stage on this server yet
    status, answer, err = Server.request(info, "POST", "/reviews", body)
  end
  if err or not status then return nil, err or "no answer from the server" end
  local review = type(answer) == "table" and (answer.review or answer)
  if type(review) ~= "table" or type(review.id) ~= "string" then return nil, "the server's answer has no review id" end
  return review.id
end

--- The bar and its caption from a review's payload: `progress` (0-1 across triage and full critiques)
--- when the server gives it (triage fills the first part of the bar, full critiques the rest), else
--- finished of total; the caption names the stage running.
function Review.showProgress(scope, r)
  if type(r.progress) == "number" then  -- in frames' worth, so the bar and the caption speak alike
    scope:setPortionComplete(math.min(math.max(r.progress, 0), 1) * r.total, r.total)
  else
    scope:setPortionComplete(r.finished or 0, r.total)
  end
  local stages = type(r.stages) == "table" and r.stages or {}
  local triage = type(stages.triage) == "table" and stages.triage or {}
  if r.stage == "triage" and type(triage.scored) == "number" then
    scope:setCaption(string.format("Scoring: %d of %d", triage.scored, r.total))
  elseif r.stage == "critique" then
    scope:setCaption(string.format("Critiques: %d of %d", r.finished or 0, r.total))
  else
    scope:setCaption(string.format("%d of %d", r.finished or 0, r.total))
  end
end

--- Follow the review with a progress bar; returns Poll.run's outcome.
function Review.follow(info, reviewId, scope, prefs)
  return Poll.run {
    fetch = function()
      local status, payload, err = Server.request(info, "GET", "/reviews/" .. reviewId)
      if status == 200 and type(payload) == "table" then return payload end
      return nil, err
    end,
    sleep = LrTasks.sleep,
    isCanceled = function() return scope:isCanceled() end,
    cancel = function() Server.request(info, "DELETE", "/reviews/" .. reviewId .. "/run") end,
    onProgress = function(payload)
      local r = payload.review
      if r and r.total and r.total > 0 then
        Review.showProgress(scope, r)
      end
    end,
    interval = prefs.pollInterval or Review.POLL_INTERVAL,
    timeout = prefs.reviewTimeout,
  }
end

--- Write the results in chunks; returns counts and the per-photo problems.
function Review.write(catalog, order, byPath, payload, prefs)
  local frames = Fields.index(payload)
  local jobs, problems, counts = {}, {}, { photos = 0, changed = 0, kept = 0 }
  for _, path in ipairs(order) do
    local frame = frames[path]
    local result, why
    if frame then result, why = Fields.forFrame(frame) else why = "not reviewed (cancelled before it)" end
    for _, photo in ipairs(byPath[path]) do
      if result then
        jobs[#jobs + 1] = { photo = photo, result = result }
      else
        problems[#problems + 1] = { name = photo:getFormattedMetadata("fileName") or leaf(path), reason = why }
      end
    end
  end
  local modes = {}
  for _, field in ipairs(Policy.FIELDS) do modes[field] = prefs["policy_" .. field] end
  local chunk = prefs.chunkSize or Review.CHUNK
  for first = 1, #jobs, chunk do
    local last = math.min(first + chunk - 1, #jobs)
    local name = string.format("%s (%d-%d of %d)", LOC "$$$/Mondrian/Undo=Mondrian results", first, last, #jobs)
    catalog:withWriteAccessDo(name, function()
      local parent = catalog:createKeyword(Review.PARENT_KEYWORD, {}, false, nil, true)
      for i = first, last do
        local changes, skipped = Review.apply(catalog, jobs[i].photo, jobs[i].result, modes, parent)
        counts.photos = counts.photos + 1
        counts.changed = counts.changed + #changes
        counts.kept = counts.kept + #skipped
      end
    end, { timeout = Review.WRITE_TIMEOUT })
  end
  return counts, problems
end

local function report(kind, counts, problems, outcome)
  local lines = {}
  local verb = kind == "triage" and "triaged" or "critiqued"
  lines[#lines + 1] = string.format("%d photo(s) %s and written; %d standard field(s) set, %d kept as they were "
    .. "(write policy).", counts.photos, verb, counts.changed, counts.kept)
  if outcome and outcome.cancelled then lines[#lines + 1] = "Cancelled: the photos finished before it were written." end
  if #problems > 0 then
    lines[#lines + 1] = ""
    lines[#lines + 1] = "Not written:"
    for _, p in ipairs(problems) do lines[#lines + 1] = "  " .. p.name .. ": " .. p.reason end
  end
  return table.concat(lines, "\n")
end

--- The whole command on ``photos``; ``context`` is the LrFunctionContext. Returns a summary table
-- (for the tests) after showing the dialog.
function Review.run(kind, catalog, photos, prefs, context)
  prefs = prefs or {}
  local order, byPath, problems = Review.collect(photos)
  if #order == 0 then
    LrDialogs.message(TITLE, report(kind, { photos = 0, changed = 0, kept = 0 }, problems), "warning")
    return { state = "nothing", problems = problems }
  end
  local info, why = Server.connect(prefs, function(question)
    return LrDialogs.confirm(question, Server.HOW_TO_START, LOC "$$$/Mondrian/Start=Start Mondrian") == "ok"
  end, { startTimeout = prefs.startTimeout })
  if not info then
    LrDialogs.message(TITLE, why, "critical")
    return { state = "down", message = why }
  end
  local scope = LrProgressScope { title = kind == "triage" and LOC "$$$/Mondrian/Triaging=Mondrian: triage"
                                    or LOC "$$$/Mondrian/Critiquing=Mondrian: critique", functionContext = context }
  scope:setCancelable(true)
  local reviewId, err = Review.start(info, kind, order, byPath, prefs)
  if not reviewId then
    scope:done()
    LrDialogs.message(TITLE, err, "critical")
    return { state = "refused", message = err }
  end
  local outcome = Review.follow(info, reviewId, scope, prefs)
  scope:done()
  if not outcome.payload then
    LrDialogs.message(TITLE, "Mondrian's server stopped answering: " .. tostring(outcome.error), "critical")
    return { state = outcome.state, reviewId = reviewId }
  end
  local counts, more = Review.write(catalog, order, byPath, outcome.payload, prefs)
  for _, p in ipairs(more) do problems[#problems + 1] = p end
  LrDialogs.message(TITLE, report(kind, counts, problems, outcome), #problems > 0 and "warning" or "info")
  return { state = outcome.state, cancelled = outcome.cancelled, reviewId = reviewId, counts = counts,
           problems = problems }
end

return Review
