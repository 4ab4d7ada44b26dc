--[[ CritiqueSelected.lua: Library > Plug-in Extras > Mondrian: Critique selected. ]]

local LrApplication = import "LrApplication"
local LrFunctionContext = import "LrFunctionContext"
local LrPrefs = import "LrPrefs"
local LrTasks = import "LrTasks"

local Review = require "MondrianReview"

LrTasks.startAsyncTask(function()
  LrFunctionContext.callWithContext("Mondrian critique", function(context)
    local catalog = LrApplication.activeCatalog()
    Review.run("critique", catalog, catalog:getTargetPhotos(), LrPrefs.prefsForPlugin(), context)
  end)
end)
