--[[ MondrianFields.lua: a review frame (GET /reviews/{id}) as Lightroom fields (pure Lua).

The plug-in's own metadata fields (see MetadataDefinition.lua), the keywords under the `Mondrian`
parent keyword, and the values Mondrian proposes for the standard fields (which the write policy
then filters). Tolerant of the review's two stages: a frame may carry full-critique scores
(`scores`, `overall`, `grade`, `summary`), triage scores (`triage = {scores, overall}` or
`triage_scores`), or both; `stage` says which the fields show.
]]

local Fields = {}

Fields.DIMENSIONS = { "composition", "lighting", "focus_sharpness", "color_harmony", "subject_isolation",
                      "depth_perspective", "visual_balance", "emotional_impact" }

-- The review's star bands (app/engine/review/grading.py), used when a frame has no `stars`.
local STAR_BANDS = { { 8.3, 5 }, { 7.1, 4 }, { 5.9, 3 }, { 4.7, 2 } }

function Fields.starsFor(overall)
  if type(overall) ~= "number" then return nil end
  for _, band in ipairs(STAR_BANDS) do
    if overall >= band[1] then return band[2] end
  end
  return 1
end

local function number(v)
  return type(v) == "number" and v or nil
end

local function mean(scores)
  local sum, n = 0, 0
  for _, d in ipairs(Fields.DIMENSIONS) do
    local v = number(scores[d])
    if v then sum, n = sum + v, n + 1 end
  end
  return n > 0 and sum / n or nil
end

--- The scores a frame carries and which stage they come from: "full", "triage" or nil (none).
function Fields.scores(frame)
  if type(frame.scores) == "table" and next(frame.scores) ~= nil and frame.stage ~= "triage" then
    return frame.scores, number(frame.overall) or mean(frame.scores), "full"
  end
  local triage = frame.triage
  local scores = type(triage) == "table" and triage.scores or frame.triage_scores or frame.scores
  if type(scores) == "table" and next(scores) ~= nil then
    local overall = type(triage) == "table" and number(triage.overall) or number(frame.overall) or mean(scores)
    return scores, overall, "triage"
  end
  return nil, nil, nil
end

local function fmt(v, pattern)
  if v == nil then return nil end
  return string.format(pattern, v)
end

--- Every Lightroom path of the review (the critiqued file and its companions) -> its frame.
function Fields.index(payload)
  local byPath = {}
  local frames = payload and payload.summary and payload.summary.frames or {}
  for _, frame in ipairs(frames) do
    byPath[frame.path] = frame
    for _, companion in ipairs(frame.companions or {}) do byPath[companion] = frame end
  end
  return byPath
end

--- Keywords (children of the `Mondrian` parent keyword) for a frame, like the sidecars' Mondrian|...
function Fields.keywords(frame, grade)
  local words = {}
  if grade then words[#words + 1] = "grade " .. grade end
  for _, problem in ipairs(frame.problems or {}) do
    if type(problem) == "table" and problem.kind then words[#words + 1] = problem.kind end
  end
  if type(frame.burst) == "number" then
    words[#words + 1] = "burst " .. string.format("%d", frame.burst)
    if frame.best_in_burst then words[#words + 1] = "best of burst" end
  end
  return words
end

--- What a frame becomes in Lightroom: {plugin = {fieldId -> text}, keywords = {...}, proposed = {...}}
-- or nil and the reason when the frame has no result (failed, or not reached).
function Fields.forFrame(frame)
  if frame.status == "failed" then return nil, frame.error or "failed" end
  local scores, overall, stage = Fields.scores(frame)
  if not scores then return nil, frame.error or ("not reviewed (" .. tostring(frame.status) .. ")") end
  local grade = type(frame.grade) == "string" and frame.grade or nil
  local plugin = { stage = stage, grade = grade, overall = fmt(overall, "%.1f"),
                   summary = type(frame.summary) == "string" and frame.summary or nil,
                   jobId = type(frame.job_id) == "string" and frame.job_id or nil }
  for _, d in ipairs(Fields.DIMENSIONS) do plugin[d] = fmt(number(scores[d]), "%g") end
  local problems = {}
  for _, p in ipairs(frame.problems or {}) do problems[#problems + 1] = p.kind end
  plugin.problems = #problems > 0 and table.concat(problems, ", ") or nil
  plugin.burst = type(frame.burst) == "number" and string.format("%d", frame.burst) or nil
  local stars = number(frame.stars)
  if stars == nil or stars == 0 then stars = Fields.starsFor(overall) end
  local label = nil
  if frame.best_in_burst then label = "green" elseif #problems > 0 then label = "red" end
  local pick = nil
  if frame.flag == "pick" then pick = 1 elseif frame.flag == "reject" then pick = -1 end
  local proposed = { rating = stars, pick = pick, label = label,
                     caption = stage == "full" and plugin.summary or nil }
  return { plugin = plugin, keywords = Fields.keywords(frame, grade), proposed = proposed, stage = stage }
end

return Fields
