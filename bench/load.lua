-- wrk's script for bench/load.ts: each thread (one connection) POSTs its target's requests in
-- turn, read from the file named after the URL, times each answer against its own request, counts
-- answers that are not 2xx or carry GraphQL errors, and, when done, prints one JSON line of what
-- every thread saw and the CPU wrk spent.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } load_timespec;
int clock_gettime(int clock, load_timespec *time);
]]
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("load_timespec")
local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) * 1000 + tonumber(timespec.tv_nsec) / 1e6
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local text = file:read("*a")
  file:close()
  local parts, at = {}, 1
  while at <= #text do
    local newline = text:find("\n", at, true)
    local length = tonumber(text:sub(at, newline - 1))
    table.insert(parts, text:sub(newline + 1, newline + length))
    at = newline + length + 1
  end
  requests = {}
  for i = 1, #parts, 2 do
    table.insert(requests, "POST " .. wrk.path .. " HTTP/1.1\r\nHost: " .. wrk.headers["Host"] .. "\r\n" .. parts[i] ..
      "Content-Length: " .. #parts[i + 1] .. "\r\n\r\n" .. parts[i + 1])
  end
  -- Two flat lists, the request answered and its latency (wrk 4.1 crashes copying a table within a thread's table to done()).
  answered, latencies = {}, {}
  next_request, asked, started = 0, 0, 0
  non2xx, graphql_errors = 0, 0
end

function request()
  next_request = next_request % #requests + 1
  asked = next_request
  started = now_ms()
  return requests[asked]
end

function response(status, headers, body)
  answered[#answered + 1] = asked
  latencies[#latencies + 1] = now_ms() - started
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  elseif body:find('"errors"', 1, true) then
    graphql_errors = graphql_errors + 1
    if first_error == nil then first_error = body:sub(1, 500) end
  end
end

local function json_string(text)
  return '"' .. text:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

function done(summary)
  local by_request, non2xx_all, graphql_all, first = {}, 0, 0, nil
  for _, thread in ipairs(threads) do
    local ms = thread:get("latencies")
    for k, i in ipairs(thread:get("answered")) do
      by_request[i] = by_request[i] or {}
      table.insert(by_request[i], string.format("%.3f", ms[k]))
    end
    non2xx_all = non2xx_all + thread:get("non2xx")
    graphql_all = graphql_all + thread:get("graphql_errors")
    first = first or thread:get("first_error")
  end
  local entries = {}
  for i, list in pairs(by_request) do
    table.insert(entries, '"' .. (i - 1) .. '":[' .. table.concat(list, ",") .. "]")
  end
  local stat = assert(io.open("/proc/self/stat", "r")):read("*a")
  local fields = {}
  for field in stat:sub(stat:find(")", 1, true) + 2):gmatch("%S+") do table.insert(fields, field) end
  -- After the command's name: state is field 3, utime 14 and stime 15.
  local ticks = tonumber(fields[12]) + tonumber(fields[13])
  local errors = summary.errors
  io.write(string.format(
    '{"answers":%d,"seconds":%.3f,"latencies":{%s},"non2xx":%d,"errors":%d,"timeouts":%d,"graphqlErrors":%d,"cpuTicks":%d%s}\n',
    summary.requests, summary.duration / 1e6, table.concat(entries, ","), non2xx_all, errors.connect + errors.read + errors.write,
    errors.timeout, graphql_all, ticks, first and (',"firstError":' .. json_string(first)) or ""))
end
