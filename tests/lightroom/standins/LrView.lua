-- LrView stand-in: views are plain tables (the dialog stand-in finds bind_to_object in them).
-- SDK: LrView.osFactory() -> f ; f:column{...} f:row{...} f:static_text{...} f:edit_field{...} f:popup_menu{...}
-- SDK: LrView.bind( key ) ; LrView.share( key ) ; f:control_spacing()
local LrView = {}
local Factory = {}
Factory.__index = function(_, kind)
  if kind == "control_spacing" then return function() return 8 end end
  return function(_, args) args.kind = kind return args end
end
function LrView.osFactory() return setmetatable({}, Factory) end
function LrView.bind(key) return { bind = key } end
function LrView.share(key) return { share = key } end
return LrView
