-- wrk script for the kiosk benchmark (driven by bench/run.py, see its docstring).
--
-- BENCH_MIX picks what every connection (one tablet) sends, in a fixed cycle:
--   floor   GET / only (the bare Flask app of bench/floor_app.py); floor_page: GET /page
--           (the kiosk's page bytes); floor_insert: POST /insert (one durable SQLite insert)
--   mixed   a visitor's taps: opener page, opener tap and the chart refresh it asks for,
--           FAQ page, FAQ opens and "Tell me more", a QR image, and a sign-up when
--           BENCH_SIGNUP=1
--   one of the parts of `mixed` alone (opener_page, opener_tap, faq_page, faq_open,
--           faq_more, qr_image, opener_chart, involved_page, signup), for the breakdown by
--           request and durable writes
-- The session cookie and CSRF token come from one setup request made by the driver
-- (BENCH_COOKIE, BENCH_TOKEN); keys and slugs come from the content pack (BENCH_CHOICES,
-- BENCH_SLUGS, BENCH_QR, BENCH_INTERESTS, comma-separated). BENCH_RUN (8 hex digits)
-- makes every idempotency key of this run unique. done() prints one line "BENCH_JSON {...}".

local function split(text)
  local items = {}
  for item in string.gmatch(text or "", "[^,]+") do
    items[#items + 1] = item
  end
  return items
end

local mix = os.getenv("BENCH_MIX") or "floor"
local cookie = os.getenv("BENCH_COOKIE") or ""
local token = os.getenv("BENCH_TOKEN") or ""
local run = os.getenv("BENCH_RUN") or "run"
local with_signup = os.getenv("BENCH_SIGNUP") == "1"
local choices = split(os.getenv("BENCH_CHOICES"))
local slugs = split(os.getenv("BENCH_SLUGS"))
local qr_keys = split(os.getenv("BENCH_QR"))
local interests = split(os.getenv("BENCH_INTERESTS"))

local page_headers = { ["Cookie"] = cookie }
local htmx_headers = {
  ["Cookie"] = cookie,
  ["HX-Request"] = "true",
  ["X-CSRFToken"] = token,
  ["Content-Type"] = "application/x-www-form-urlencoded",
}

-- Per connection-thread state; `id` is set by setup() below.
local sent = 0

local function pick(items)
  return items[(sent % #items) + 1]
end

local function page(path)
  return function()
    return wrk.format("GET", path, page_headers)
  end
end

local function htmx_post(path, body)
  return wrk.format("POST", path, htmx_headers, body .. "&csrf_token=" .. token)
end

-- 32 hex digits, the shape of the keys the kiosk hands out: run, thread, request.
local function fresh_key()
  return string.format("%s%08x%016x", run, id or 0, sent)
end

-- Every tap carries its form's idempotency key, as a tablet sends it: a fresh one each time.
local function opener_tap()
  return htmx_post("/opener", "choice=" .. pick(choices) .. "&idempotency_key=" .. fresh_key())
end

local function faq_open(depth)
  return function()
    local body = "depth=" .. depth .. "&idempotency_key=" .. fresh_key()
    return htmx_post("/faq/" .. pick(slugs), body)
  end
end

local function htmx_get(path)
  return function()
    return wrk.format("GET", path, htmx_headers)
  end
end

local function qr_image()
  return wrk.format("GET", "/qr/" .. pick(qr_keys) .. ".svg", page_headers)
end

local function signup()
  local key = fresh_key()
  local body = "first_name=Bench&last_name=Visitor&email=visitor%2B" .. key
    .. "%40example.org&organisation=Bench+High&consent=y&idempotency_key=" .. key
  if #interests > 0 then
    body = body .. "&interests=" .. pick(interests)
  end
  return htmx_post("/signup", body)
end

local parts = {
  opener_page = page("/"),
  opener_tap = opener_tap,
  faq_page = page("/faq"),
  faq_open = faq_open("short"),
  faq_more = faq_open("more"),
  qr_image = qr_image,
  opener_chart = htmx_get("/opener/chart"),
  involved_page = page("/involved"),
  signup = signup,
  floor_page = page("/page"),
  floor_insert = function()
    return wrk.format("POST", "/insert", nil, "key=floor")
  end,
}
local mixed = {
  parts.opener_page, parts.opener_tap, parts.opener_chart, parts.faq_page, parts.faq_open,
  parts.faq_more, parts.faq_open, parts.qr_image,
}
if with_signup then
  table.insert(mixed, parts.signup)
end
local cycle = ({ floor = { page("/") }, mixed = mixed })[mix] or { parts[mix] }
assert(cycle[1], "unknown BENCH_MIX " .. mix)

function request()
  sent = sent + 1
  return cycle[(sent % #cycle) + 1]()
end

-- Status counting: wrk itself only counts >= 400; we also want to see 1xx and the first
-- bad status, so each thread counts and done() adds them up.
good, bad, first_bad = 0, 0, 0

function response(status, headers, body)
  if status >= 200 and status < 400 then
    good = good + 1
  else
    bad = bad + 1
    if first_bad == 0 then
      first_bad = status
    end
  end
end

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local ok, failed, first = 0, 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("good")
    failed = failed + thread:get("bad")
    if first == 0 then
      first = thread:get("first_bad")
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, '
      .. '"p95_us": %d, "p99_us": %d, "max_us": %d, "ok": %d, "bad_status": %d, '
      .. '"first_bad_status": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    ok, failed, first, e.connect + e.read + e.write + e.timeout
  ))
end
