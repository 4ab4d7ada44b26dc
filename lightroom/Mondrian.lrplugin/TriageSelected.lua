--[[ TriageSelected.lua: Library > Plug-in Extras > Mondrian: Triage selected. ]]

local LrApplication = import "LrApplication"
local LrFunctionContext = import "LrFunctionContext"
local LrPrefs = import "LrPrefs"
local LrTasks = import "LrTasks"

local Review = require "MondrianReview"

LrTasks.startAsyncTask(function()
  LrFunctionContext.callWithContext("Mondrian triage", function(context)
    local catalog = LrApplication.activeCatalog()
    Review.run("triage", catalog, catalog:getTargetPhotos(), LrPrefs.prefsForPlugin(), context)
  end)
end)
