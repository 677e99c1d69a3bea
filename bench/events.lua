-- wrk script posting behavioural events to a webhook. Arguments (after `--`):
--   path first_id count batch
-- Each request carries `batch` events (a JSON array; one object when batch is 1) of random
-- customers in [first_id, first_id + count), shaped as bench/events.py's definition wants.
-- done() prints one line "WRK_JSON {...}" like wrk.lua.

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

local path, first_id, count, batch
local categories = {"shoes", "bags", "shirts", "jackets", "watches", "toys", "books", "garden"}

function init(args)
  path = args[1]
  first_id = tonumber(args[2])
  count = tonumber(args[3])
  batch = tonumber(args[4])
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  math.randomseed(os.time() * 1000 + (thread_number or 0) * 7919)
  for _ = 1, 10 do math.random() end
end

local function event()
  return string.format(
    '{"eventName":"bench_view","customer":%d,"sku":"SKU-%05d","category":"%s",' ..
    '"price":%d.%02d,"page":"/p/%d"}',
    first_id + math.random(0, count - 1), math.random(0, 4999),
    categories[math.random(1, #categories)], math.random(0, 199), math.random(0, 99),
    math.random(0, 996))
end

function request()
  if batch == 1 then
    return wrk.format(nil, path, nil, event())
  end
  local parts = {}
  for i = 1, batch do parts[i] = event() end
  return wrk.format(nil, path, nil, "[" .. table.concat(parts, ",") .. "]")
end

dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "wrk_report.lua")
