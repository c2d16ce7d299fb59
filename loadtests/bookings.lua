-- wrk script: POST {"seats":1} once per line of a request file, then stop; prints one JSON line.
--
--   wrk -t T -c C -d <safety limit> --timeout 30s -s loadtests/bookings.lua <url> -- <file> T
--
-- Each line of <file> is "<path>\t<bearer token>". Thread t sends lines t, t+T, t+2T, ... exactly
-- once each; when it has no line left, request() returns an empty string, which parks the connection
-- (wrk writes nothing and waits), and once every sent request has its response the thread stops.
-- So the run makes exactly as many requests as <file> has lines; -d only bounds a run gone wrong
-- (a connection error loses its in-flight request and the thread then runs to -d: reported as
-- "complete": false). wrk calls request() once on thread 0 before the run to check the request
-- format; that call does not consume a line.

local threads = {}
local next_id = 0
local targets = nil

-- WRK_TARGETS="host:port,host:port" (set by loadtests/wrk.py for several servers): thread t connects to
-- server t mod N instead of the URL's.
local function target_addrs()
  local spec = os.getenv("WRK_TARGETS")
  if not spec or spec == "" then return {} end
  local found = {}
  for host, port in spec:gmatch("([^,:]+):(%d+)") do
    found[#found + 1] = wrk.lookup(host, port)[1]
  end
  return found
end

function setup(thread)
  targets = targets or target_addrs()
  if #targets > 0 then
    thread.addr = targets[(next_id % #targets) + 1]
  end
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  local body = '{"seats":1}'
  queue = {}
  local i = 0
  for line in io.lines(file) do
    if i % nthreads == id then
      local path, token = line:match("^(%S+)\t(%S+)$")
      queue[#queue + 1] = wrk.format("POST", path, {
        ["Authorization"] = "Bearer " .. token,
        ["Content-Type"] = "application/json",
      }, body)
    end
    i = i + 1
  end
  nlines = #queue
  verifying = (id == 0)
  sent, received, created, conflicts, others = 0, 0, 0, 0, 0
  codes = ""
end

function request()
  if verifying then  -- wrk's format check before the run: nothing is sent
    verifying = false
    return queue[1] or wrk.format("GET", "/healthz")
  end
  if sent >= #queue then
    if #queue == 0 then finish() end
    return ""
  end
  if sent == 0 then
    io.write("WRK_THREAD_START\n")
    io.flush()
  end
  sent = sent + 1
  return queue[sent]
end

function response(status, headers, body)
  received = received + 1
  if status == 201 then
    created = created + 1
  elseif status == 409 then
    conflicts = conflicts + 1
  else
    others = others + 1
    if #codes < 200 then codes = codes .. status .. " " end
  end
  if received >= #queue then
    finish()
  end
end

-- wrk's main thread sleeps for -d whatever the threads do, and counts that sleep in its duration:
-- so each thread says when it is done, and the caller (loadtests/wrk.py) times the run from the first
-- start to the last done, then sends SIGINT, which ends the sleep.
function finish()
  if finished then return end
  finished = true
  io.write("WRK_THREAD_DONE\n")
  io.flush()
  wrk.thread:stop()
end

function done(summary, latency, requests)
  local total = { sent = 0, received = 0, created = 0, conflicts = 0, others = 0, lines = 0 }
  local other_codes = ""
  for _, thread in ipairs(threads) do
    for _, key in ipairs({ "sent", "received", "created", "conflicts", "others" }) do
      total[key] = total[key] + thread:get(key)
    end
    total.lines = total.lines + thread:get("nlines")
    other_codes = other_codes .. thread:get("codes")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "sent": %d, "received": %d, "created": %d,'
    .. ' "conflicts": %d, "others": %d, "other_codes": "%s", "lines": %d, "complete": %s,'
    .. ' "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %d,'
    .. ' "socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, total.sent, total.received, total.created,
    total.conflicts, total.others, other_codes, total.lines,
    tostring(total.received == total.lines),
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.timeout))
end
