--[[ MetadataTagset.lua: the "Mondrian" choice of the Metadata panel's tagset menu. ]]

return {
    id = "MondrianTagset",
    title = LOC "$$$/Mondrian/Tagset=Mondrian",
    items = {
      "com.adobe.filename",
      "com.adobe.rating",
      "com.adobe.label",
      "com.adobe.caption",
      "com.adobe.separator",
      "app.mondrian.lightroom.grade",
      "app.mondrian.lightroom.overall",
      "app.mondrian.lightroom.stage",
      "app.mondrian.lightroom.composition",
      "app.mondrian.lightroom.lighting",
      "app.mondrian.lightroom.focus_sharpness",
      "app.mondrian.lightroom.color_harmony",
      "app.mondrian.lightroom.subject_isolation",
      "app.mondrian.lightroom.depth_perspective",
      "app.mondrian.lightroom.visual_balance",
      "app.mondrian.lightroom.emotional_impact",
      "app.mondrian.lightroom.problems",
      "app.mondrian.lightroom.burst",
      { formatter = "app.mondrian.lightroom.summary", height_in_lines = 4 },
    },
}
