-- Test oracle: Prosody's own nodeprep (util.encodings, ICU stringprep), the function Prosody applies to every
-- localpart. Reads hex-encoded UTF-8 strings, one per line; writes "+" and nodeprep's result hex-encoded, or "-"
-- when nodeprep refuses the string. Run with the Lua that Prosody runs on; argv[1] is Prosody's library directory.
package.cpath = arg[1] .. "/?.so;" .. package.cpath
local nodeprep = require("util.encodings").stringprep.nodeprep
local function unhex(h) return (h:gsub("..", function(x) return string.char(tonumber(x, 16)) end)) end
local function hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end
for line in io.lines() do
  local r = nodeprep(unhex(line))
  io.write(r and ("+" .. hex(r)) or "-", "\n")
end
