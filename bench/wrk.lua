-- wrk script for the load run. Arguments (after `--`): first_id count path auth [format]
--   path holds "{id}" where a random number in [first_id, first_id + count) goes, written with
--   format (default "%d"; e.g. a request id pattern); auth is the Authorization header value
--   ("" for none).
-- done() prints one line "WRK_JSON {...}" with throughput and latency percentiles.

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

local first_id, count, prefix, suffix, fixed, format

function init(args)
  first_id = tonumber(args[1])
  count = tonumber(args[2])
  local path = args[3]
  local at = path:find("{id}", 1, true)
  if at then
    prefix, suffix = path:sub(1, at - 1), path:sub(at + 4)
  else
    fixed = path
  end
  if args[4] and args[4] ~= "" then
    wrk.headers["Authorization"] = args[4]
  end
  format = (args[5] and args[5] ~= "") and args[5] or "%d"
  math.randomseed(os.time() * 1000 + (thread_number or 0) * 7919)
  for _ = 1, 10 do math.random() end
end

function request()
  if fixed then
    return wrk.format("GET", fixed)
  end
  local id = first_id + math.random(0, count - 1)
  return wrk.format("GET", prefix .. string.format(format, id) .. suffix)
end

dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "wrk_report.lua")
