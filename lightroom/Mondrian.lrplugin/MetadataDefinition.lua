--[[ MetadataDefinition.lua: Mondrian's own fields in the catalog (LrMetadataProvider).

Shown in the Metadata panel (choose the "Mondrian" tagset) and offered in the Library filter bar's
Metadata columns (browsable) and its Text search (searchable). Read-only in the panel: they are
Mondrian's results, not the user's. `written` (no title: hidden) records the standard-field values
Mondrian itself wrote, so they are never mistaken for the photographer's.
Raise schemaVersion whenever a field is added, removed or changes type.
]]

local function field(id, title, extra)
  local f = { id = id, title = title, dataType = "string", searchable = true, browsable = true, readOnly = true,
              version = 1 }
  for k, v in pairs(extra or {}) do f[k] = v end
  return f
end

return {
  metadataFieldsForPhotos = {
    field("grade", LOC "$$$/Mondrian/Field/Grade=Grade"),
    field("overall", LOC "$$$/Mondrian/Field/Overall=Overall score"),
    field("stage", LOC "$$$/Mondrian/Field/Stage=Review stage"),
    field("composition", LOC "$$$/Mondrian/Field/Composition=Composition"),
    field("lighting", LOC "$$$/Mondrian/Field/Lighting=Lighting"),
    field("focus_sharpness", LOC "$$$/Mondrian/Field/Focus=Focus & sharpness"),
    field("color_harmony", LOC "$$$/Mondrian/Field/Color=Color harmony"),
    field("subject_isolation", LOC "$$$/Mondrian/Field/Isolation=Subject isolation"),
    field("depth_perspective", LOC "$$$/Mondrian/Field/Depth=Depth & perspective"),
    field("visual_balance", LOC "$$$/Mondrian/Field/Balance=Visual balance"),
    field("emotional_impact", LOC "$$$/Mondrian/Field/Impact=Emotional impact"),
    field("problems", LOC "$$$/Mondrian/Field/Problems=Technical problems"),
    field("burst", LOC "$$$/Mondrian/Field/Burst=Burst"),
    field("summary", LOC "$$$/Mondrian/Field/Summary=Critique summary", { browsable = false }),
    field("jobId", LOC "$$$/Mondrian/Field/Job=Mondrian job", { browsable = false }),
    { id = "written", dataType = "string", searchable = false, browsable = false, version = 1 },
  },
  schemaVersion = 1,
  updateFromEarlierSchemaVersion = function(catalog, previousSchemaVersion, progressScope) -- luacheck: no unused
    -- Version 1 is the first schema: nothing to migrate yet.
  end,
}
