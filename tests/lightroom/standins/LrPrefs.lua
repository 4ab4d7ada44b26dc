-- LrPrefs stand-in. SDK: LrPrefs.prefsForPlugin( pluginId ) -> the plug-in's preferences table
local Recorder = require "Recorder"
return { prefsForPlugin = function() return Recorder.fixture.prefs or {} end }
