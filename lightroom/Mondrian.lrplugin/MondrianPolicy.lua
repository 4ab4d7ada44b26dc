--[[ MondrianPolicy.lua: what Mondrian may change in a photo's standard fields (pure Lua).

The photographer's metadata is theirs. Per field (rating, pick flag, colour label, caption) the user
chooses in the Plug-in Manager:
  never      Mondrian never writes this field;
  empty      (the default) only where the field is empty, or still holds exactly the value Mondrian
             itself wrote last time (recorded in the plug-in's own `written` field);
  overwrite  always, replacing what is there.
"Empty": rating nil or 0 (unrated), pick flag 0 (unflagged), label none, caption "" (blank).
Mondrian's own results (its scores, grade, summary fields and the keywords under `Mondrian`) live in
its own namespace and are always written: they are not the user's fields.
]]

local Policy = {}

Policy.FIELDS = { "rating", "pick", "label", "caption" }
Policy.MODES = { never = true, empty = true, overwrite = true }
Policy.DEFAULTS = { rating = "empty", pick = "empty", label = "empty", caption = "empty" }

local function blank(s)
  return s == nil or (type(s) == "string" and s:find("^%s*$") ~= nil)
end

--- Whether ``value`` counts as empty for ``field``.
function Policy.isEmpty(field, value)
  if field == "rating" then return value == nil or value == 0 end
  if field == "pick" then return value == nil or value == 0 end
  if field == "label" then return blank(value) or value == "none" end
  return blank(value)
end

--- The mode of ``field`` in ``prefs`` (a table of field -> mode), the default when unset or unknown.
function Policy.mode(prefs, field)
  local mode = prefs and prefs[field]
  if Policy.MODES[mode] then return mode end
  return Policy.DEFAULTS[field]
end

--- Plan the writes of one photo.
-- current:  the photo's values now {rating, pick, label, caption}
-- proposed: Mondrian's values (nil: nothing to propose for that field)
-- prefs:    field -> mode
-- written:  what Mondrian wrote last time {field -> value} (may be nil)
-- Returns changes {{field, from, to}}, skipped {{field, reason}}, and the new `written` record.
function Policy.plan(current, proposed, prefs, written)
  written = written or {}
  local changes, skipped, record = {}, {}, {}
  for _, field in ipairs(Policy.FIELDS) do
    local now, want = current[field], proposed[field]
    local mine = written[field] ~= nil and written[field] == now
    if mine then record[field] = now end  -- still Mondrian's value: keep knowing it
    if want ~= nil and want ~= now then
      local mode = Policy.mode(prefs, field)
      if mode == "never" then
        skipped[#skipped + 1] = { field = field, reason = "not allowed (write policy: never)" }
      elseif mode == "overwrite" or Policy.isEmpty(field, now) or mine then
        changes[#changes + 1] = { field = field, from = now, to = want }
        record[field] = want
      else
        skipped[#skipped + 1] = { field = field, reason = "kept: the photo already has the user's value" }
      end
    end
  end
  return changes, skipped, record
end

return Policy
