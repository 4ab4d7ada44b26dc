-- LrBinding stand-in. SDK: LrBinding.makePropertyTable( context ) -> observable table
return { makePropertyTable = function(context) assert(context, "makePropertyTable( context )") return {} end }
