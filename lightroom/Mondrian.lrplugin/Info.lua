--[[ Info.lua: Mondrian for Lightroom Classic. Install with File > Plug-in Manager > Add. ]]

return {
  LrSdkVersion = 10.0,
  LrSdkMinimumVersion = 6.0,
  LrToolkitIdentifier = "app.mondrian.lightroom",
  LrPluginName = LOC "$$$/Mondrian/PluginName=Mondrian",
  LrPluginInfoProvider = "PluginInfoProvider.lua",
  LrMetadataProvider = "MetadataDefinition.lua",
  LrMetadataTagsetFactory = "MetadataTagset.lua",
  LrLibraryMenuItems = {
    { title = LOC "$$$/Mondrian/Menu/Critique=Critique selected", file = "CritiqueSelected.lua",
      enabledWhen = "photosSelected" },
    { title = LOC "$$$/Mondrian/Menu/Triage=Triage selected", file = "TriageSelected.lua",
      enabledWhen = "photosSelected" },
    { title = LOC "$$$/Mondrian/Menu/Ask=Ask about this photo", file = "AskSelected.lua",
      enabledWhen = "photosSelected" },
  },
  VERSION = { major = 0, minor = 1, revision = 0 },
}
