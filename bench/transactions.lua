-- wrk script posting bills to POST /v2/transactions. Arguments (after `--`):
--   first_id count auth
-- Each request is one REGULAR bill of 100.00 to 1,999.99 for a random customer in
-- [first_id, first_id + count), named by id. Bill numbers are unique across threads and runs:
-- "W", 8 random bytes read from /dev/urandom per thread, the thread number and a counter.
-- done() prints one line "WRK_JSON {...}" like wrk.lua.

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

local first_id, count, prefix, n

local function token()
  local f = assert(io.open("/dev/urandom", "rb"))
  local bytes = f:read(8)
  f:close()
  return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

function init(args)
  first_id = tonumber(args[1])
  count = tonumber(args[2])
  wrk.headers["Authorization"] = args[3]
  wrk.headers["Content-Type"] = "application/json"
  wrk.method = "POST"
  local seed = token()
  prefix = "W" .. seed .. "-" .. (thread_number or 0) .. "-"
  math.randomseed(tonumber(seed:sub(1, 8), 16) + (thread_number or 0) * 7919)
  for _ = 1, 10 do math.random() end
  n = 0
end

function request()
  n = n + 1
  local id = first_id + math.random(0, count - 1)
  return wrk.format(nil,
    "/v2/transactions?source=INSTORE&identifierName=id&identifierValue=" .. id, nil,
    string.format('{"type":"REGULAR","billNumber":"%s%d","billAmount":%d.%02d}', prefix, n,
                  math.random(100, 1999), math.random(0, 99)))
end

dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "wrk_report.lua")
