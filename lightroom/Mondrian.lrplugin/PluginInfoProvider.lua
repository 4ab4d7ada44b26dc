--[[ PluginInfoProvider.lua: the Plug-in Manager's settings: write policy per field, advisor, server. ]]

local LrView = import "LrView"
local LrPrefs = import "LrPrefs"

local Policy = require "MondrianPolicy"

local FIELD_TITLES = {
  rating = LOC "$$$/Mondrian/Pref/Rating=Rating (stars)",
  pick = LOC "$$$/Mondrian/Pref/Pick=Pick flag",
  label = LOC "$$$/Mondrian/Pref/Label=Colour label",
  caption = LOC "$$$/Mondrian/Pref/Caption=Caption",
}

local MODE_ITEMS = {
  { title = LOC "$$$/Mondrian/Pref/Never=Never write", value = "never" },
  { title = LOC "$$$/Mondrian/Pref/Empty=Only where empty (or still Mondrian's)", value = "empty" },
  { title = LOC "$$$/Mondrian/Pref/Overwrite=Always (overwrite mine)", value = "overwrite" },
}

local function sections(f, prefs)
  local rows = { spacing = f:control_spacing(), bind_to_object = prefs }
  for _, field in ipairs(Policy.FIELDS) do
    local key = "policy_" .. field
    if not Policy.MODES[prefs[key]] then prefs[key] = Policy.DEFAULTS[field] end
    rows[#rows + 1] = f:row {
      f:static_text { title = FIELD_TITLES[field], width = LrView.share("label_width") },
      f:popup_menu { value = LrView.bind(key), items = MODE_ITEMS },
    }
  end
  rows[#rows + 1] = f:static_text {
    title = LOC "$$$/Mondrian/Pref/Own=Scores, grade, summary: Mondrian's own fields and keywords (always written).",
  }
  local server = {
    spacing = f:control_spacing(), bind_to_object = prefs,
    f:row { f:static_text { title = LOC "$$$/Mondrian/Pref/Advisor=Advisor (blank: the server's default)",
                            width = LrView.share("label_width") },
            f:edit_field { value = LrView.bind("advisor"), width_in_chars = 20 } },
    f:row { f:static_text { title = LOC "$$$/Mondrian/Pref/Mode=Mode (blank: auto)", width = LrView.share("label_width") },
            f:edit_field { value = LrView.bind("mode"), width_in_chars = 20 } },
    f:row { f:static_text { title = LOC "$$$/Mondrian/Pref/Data=Mondrian's data folder (blank: the usual place)",
                            width = LrView.share("label_width") },
            f:edit_field { value = LrView.bind("dataFolder"), width_in_chars = 40 } },
    f:row { f:static_text { title = LOC "$$$/Mondrian/Pref/Command=Command that starts the server (blank: the last one used)",
                            width = LrView.share("label_width") },
            f:edit_field { value = LrView.bind("serverCommand"), width_in_chars = 40 } },
  }
  return {
    { title = LOC "$$$/Mondrian/Pref/Policy=Write policy", f:column(rows) },
    { title = LOC "$$$/Mondrian/Pref/Server=Mondrian server", f:column(server) },
  }
end

return {
  sectionsForTopOfDialog = function(f, _)
    return sections(f, LrPrefs.prefsForPlugin())
  end,
}
