-- unit.lua: the plug-in's pure modules, case by case (run by run.lua with {"unit": true}).
local json = require "MondrianJson"
local Policy = require "MondrianPolicy"
local Fields = require "MondrianFields"
local Poll = require "MondrianPoll"
local Review = require "MondrianReview"

local results = {}
local function case(name, fn)
  local ok, err = pcall(fn)
  results[#results + 1] = { name = name, ok = ok, error = err and tostring(err) or nil }
end
local function eq(a, b, what)
  if a ~= b then error(string.format("%s: expected %s, got %s", what or "value", tostring(b), tostring(a)), 2) end
end

case("json round trip keeps text, numbers, nesting and null in arrays", function()
  local text = '{"a":[1,-2.5,null,"x\\u00e9\\n\\ud83d\\ude00"],"b":{"c":true,"d":false},"e":1e3}'
  local v = assert(json.decode(text))
  eq(v.a[2], -2.5) eq(v.a[3], json.null) eq(v.a[4], "xé\n😀") eq(v.b.d, false) eq(v.e, 1000)
  eq(json.encode(v), '{"a":[1,-2.5,null,"xé\\n😀"],"b":{"c":true,"d":false},"e":1000}')
  eq(json.encode(json.emptyArray), "[]")
end)

case("json refuses what is not JSON, naming the place", function()
  for _, bad in ipairs({ "{", "[1,]", '{"a" 1}', '"\\x"', "tru", "1 2", "" }) do
    local v, err = json.decode(bad)
    eq(v, nil, bad) assert(err and err:find("JSON"), bad)
  end
  assert(not pcall(json.encode, { [1] = 1, x = 2 }), "mixed tables are refused")
  assert(not pcall(json.encode, 0 / 0), "nan is refused")
end)

case("policy: empty means unrated, unflagged, no label, blank caption", function()
  assert(Policy.isEmpty("rating", nil) and Policy.isEmpty("rating", 0) and not Policy.isEmpty("rating", 1))
  assert(Policy.isEmpty("pick", 0) and not Policy.isEmpty("pick", -1))
  assert(Policy.isEmpty("label", nil) and Policy.isEmpty("label", "") and not Policy.isEmpty("label", "purple"))
  assert(Policy.isEmpty("caption", "  ") and not Policy.isEmpty("caption", "Grandma's 90th"))
end)

case("policy: by default only empty fields are filled, the user's values kept", function()
  local current = { rating = 5, pick = 0, label = "purple", caption = "" }
  local changes, skipped, record = Policy.plan(current, { rating = 2, pick = 1, label = "red", caption = "Soft." }, {}, nil)
  local changed = {}
  for _, c in ipairs(changes) do changed[c.field] = c.to end
  eq(changed.rating, nil, "rating kept") eq(changed.label, nil, "label kept")
  eq(changed.pick, 1, "pick filled") eq(changed.caption, "Soft.", "caption filled")
  eq(#skipped, 2) eq(record.pick, 1) eq(record.caption, "Soft.") eq(record.rating, nil)
end)

case("policy: never and overwrite, per field", function()
  local prefs = { rating = "overwrite", label = "never", caption = "bogus" }
  local changes = Policy.plan({ rating = 4, label = nil, caption = "" }, { rating = 2, label = "green", caption = "x" },
                              prefs, nil)
  local changed = {}
  for _, c in ipairs(changes) do changed[c.field] = c.to end
  eq(changed.rating, 2) eq(changed.label, nil) eq(changed.caption, "x", "an unknown mode falls back to empty")
end)

case("policy: a value Mondrian wrote stays Mondrian's until the user changes it", function()
  local changes = Policy.plan({ rating = 3 }, { rating = 4 }, {}, { rating = 3 })
  eq(#changes, 1) eq(changes[1].to, 4)
  local again, skipped, record = Policy.plan({ rating = 5 }, { rating = 4 }, {}, { rating = 3 })
  eq(#again, 0) eq(#skipped, 1) eq(record.rating, nil, "the user took the field over")
end)

case("fields: a full critique frame", function()
  local frame = { path = "/p/a.jpg", status = "done", grade = "B+", overall = 7.25, summary = "Strong light.",
                  scores = { composition = 7, lighting = 8 }, problems = { { kind = "blur", detail = "soft" } },
                  burst = 2, best_in_burst = true, flag = "pick", stars = 4, job_id = "j1" }
  local r = assert(Fields.forFrame(frame))
  eq(r.stage, "full") eq(r.plugin.grade, "B+") eq(r.plugin.overall, "7.2") eq(r.plugin.lighting, "8")
  eq(r.plugin.problems, "blur") eq(r.plugin.burst, "2") eq(r.proposed.rating, 4) eq(r.proposed.pick, 1)
  eq(r.proposed.label, "green") eq(r.proposed.caption, "Strong light.")
  eq(table.concat(r.keywords, ","), "grade B+,blur,burst 2,best of burst")
end)

case("fields: triage scores in any of the shapes the server may send; no caption from a triage", function()
  local shapes = {
    { status = "done", triage = { scores = { composition = 9, lighting = 9 }, overall = 9 } },
    { status = "done", triage_scores = { composition = 9, lighting = 9 } },
    { status = "done", stage = "triage", scores = { composition = 9, lighting = 9 }, summary = "x" },
  }
  for i, frame in ipairs(shapes) do
    local r = assert(Fields.forFrame(frame))
    eq(r.stage, "triage", "shape " .. i) eq(r.plugin.overall, "9.0", "shape " .. i)
    eq(r.proposed.rating, 5, "shape " .. i) eq(r.proposed.caption, nil, "shape " .. i)
  end
end)

case("fields: a failed frame is a reason, not a result", function()
  local r, why = Fields.forFrame({ status = "failed", error = "broken.jpg: corrupt" })
  eq(r, nil) eq(why, "broken.jpg: corrupt")
  local byPath = Fields.index({ summary = { frames = { { path = "/a.dng", companions = { "/a.jpg" } } } } })
  eq(byPath["/a.jpg"], byPath["/a.dng"])
end)

case("poll: follows to the end, cancels once, survives a blip, gives up when the server is gone", function()
  local states = { { review = { state = "running", finished = 0, total = 2 }, running = true }, false,
                   { review = { state = "running", finished = 1, total = 2 }, running = true },
                   { review = { state = "completed", finished = 2, total = 2 }, running = false } }
  local i, seen = 0, {}
  local outcome = Poll.run { fetch = function() i = i + 1 if states[i] then return states[i] end return nil, "down" end,
                             sleep = function() end, onProgress = function(p) seen[#seen + 1] = p.review.finished end }
  eq(outcome.state, "completed") eq(table.concat(seen, ","), "0,1,2")
  local cancels = 0
  outcome = Poll.run { fetch = function() return { review = { state = cancels > 0 and "cancelled" or "running" },
                                                   running = cancels == 0 } end,
                       sleep = function() end, isCanceled = function() return true end,
                       cancel = function() cancels = cancels + 1 end }
  eq(outcome.state, "cancelled") eq(cancels, 1) eq(outcome.cancelled, true)
  outcome = Poll.run { fetch = function() return nil, "connection refused" end, sleep = function() end, retries = 3 }
  eq(outcome.state, "lost") eq(outcome.error, "connection refused")
  local t = 0
  outcome = Poll.run { fetch = function() return { review = { state = "running" }, running = true } end,
                       sleep = function() t = t + 1 end, clock = function() return t end, timeout = 3,
                       cancel = function() cancels = cancels + 1 end }
  eq(outcome.state, "timeout") eq(cancels, 2)
end)

case("progress: the bar follows both stages in frames' worth, the caption names the stage", function()
  local seen = {}
  local scope = { setPortionComplete = function(_, done, total) seen.done, seen.total = done, total end,
                  setCaption = function(_, caption) seen.caption = caption end }
  Review.showProgress(scope, { progress = 0.125, stage = "triage", finished = 0, total = 8,
                               stages = { triage = { scored = 4 } } })
  eq(seen.done, 1) eq(seen.total, 8) eq(seen.caption, "Scoring: 4 of 8")
  Review.showProgress(scope, { progress = 0.625, stage = "critique", finished = 4, total = 8 })
  eq(seen.done, 5) eq(seen.caption, "Critiques: 4 of 8")
  Review.showProgress(scope, { finished = 3, total = 8 })  -- an older server: finished of total
  eq(seen.done, 3) eq(seen.caption, "3 of 8")
end)

return results
