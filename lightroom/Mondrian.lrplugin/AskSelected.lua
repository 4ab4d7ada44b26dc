--[[ AskSelected.lua: Library > Plug-in Extras > Mondrian: Ask about this photo. ]]

local LrApplication = import "LrApplication"
local LrDialogs = import "LrDialogs"
local LrFunctionContext = import "LrFunctionContext"
local LrPrefs = import "LrPrefs"
local LrTasks = import "LrTasks"

local Ask = require "MondrianAsk"

LrTasks.startAsyncTask(function()
  LrFunctionContext.callWithContext("Mondrian ask", function(context)
    local catalog = LrApplication.activeCatalog()
    local photo = catalog:getTargetPhoto()
    if not photo then
      LrDialogs.message(LOC "$$$/Mondrian/Title=Mondrian", LOC "$$$/Mondrian/OnePhoto=Select one photo first.", "info")
      return
    end
    Ask.run(catalog, photo, LrPrefs.prefsForPlugin(), context)
  end)
end)
