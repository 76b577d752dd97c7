-- The simulated cameras of `npm run bench` as wrk sends them (bench/load.ts, a plan with `wrk`):
-- each request the image file as its body, to a path of its own (`{n}` in the path becomes a name
-- unique in the run: tag, thread, counter), with an Axis-style Content-Disposition filename of the
-- same name when asked, and `Connection: close` when asked (wrk then opens a new connection for
-- every request).
--
-- Arguments after `--`: method, path template, body file, tag, content-disposition (1 or 0),
-- connection close (1 or 0).
--
-- done() prints one line, `wrk-result {json}`: completed requests, errors by kind (`status`: answers
-- > 399), the duration, and the latency's 1st to 100th percentiles in milliseconds (wrk times a
-- request from its first byte written, after the connection and any TLS handshake, to its answer).

local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

local template, prefix, disposition
local counter = 0

function init(args)
  wrk.method = args[1]
  template = args[2]
  local file = assert(io.open(args[3], "rb"))
  wrk.body = file:read("*a")
  file:close()
  prefix = args[4] .. "-" .. id .. "-"
  disposition = args[5] == "1"
  wrk.headers["Content-Type"] = "image/jpeg"
  if args[6] == "1" then wrk.headers["Connection"] = "close" end
end

function request()
  counter = counter + 1
  local name = prefix .. counter
  if disposition then wrk.headers["Content-Disposition"] = 'attachment; filename="' .. name .. '.jpg"' end
  local path = template:gsub("{n}", name)
  return wrk.format(nil, path)
end

function done(summary, latency)
  local percentiles = {}
  for p = 1, 100 do percentiles[p] = string.format("%.3f", latency:percentile(p) / 1000) end
  local errors = summary.errors
  io.write(string.format(
    'wrk-result {"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"latencies":[%s]}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    table.concat(percentiles, ",")))
end
