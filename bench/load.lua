-- One kind of reader for wrk (bench/load.py runs one wrk per kind, side by side):
--   wrk -t1 -cN -dS --latency -s bench/load.lua URL -- KIND [COUNTY ...]
-- KIND: county_items | near | tile. Every response is checked: 200, one snapshot in X-Riskmap-Snapshot, and
-- for /near the body naming the same snapshot. done() prints one JSON line (latencies in ms).

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  kind = args[1]
  counties = {}
  for i = 2, #args do
    counties[#counties + 1] = args[i]
  end
  bad_status, torn, seen = 0, 0, ""
  math.randomseed(os.time() + #kind)
end

local function tile(lon, lat, z)
  local n = 2 ^ z
  local r = math.rad(lat)
  local x = math.floor((lon + 180) / 360 * n)
  local y = math.floor((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n)
  return x, y
end

function request()
  if kind == "county_items" then
    local code = counties[math.random(#counties)]
    return wrk.format("GET", "/collections/enterprises/items?limit=100&county_adcode=" .. code)
  end
  local lon, lat = 119.5 + 2 * math.random(), 28.5 + 2 * math.random()
  if kind == "near" then
    return wrk.format("GET", string.format("/near?lon=%.6f&lat=%.6f&radius_m=1000", lon, lat))
  end
  local z = math.random(8, 12)
  local x, y = tile(lon, lat, z)
  return wrk.format("GET", string.format("/tiles/enterprises/%d/%d/%d.mvt", z, x, y))
end

function response(status, headers, body)
  if status ~= 200 then
    bad_status = bad_status + 1
  end
  local snap = headers["x-riskmap-snapshot"] or headers["X-Riskmap-Snapshot"]
  if snap == nil or snap:find(",") then
    torn = torn + 1
    return
  end
  if kind == "near" and status == 200 and body:match('"snapshot":"([^"]+)"') ~= snap then
    torn = torn + 1
  end
  if not seen:find(snap, 1, true) then
    seen = seen .. snap .. " "
  end
end

function done(summary, latency, requests)
  local bad, tear, snaps = 0, 0, ""
  for _, t in ipairs(threads) do
    bad = bad + t:get("bad_status")
    tear = tear + t:get("torn")
    snaps = snaps .. t:get("seen")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "socket_errors": %d, "bad_status": %d, "torn": %d, "p50_ms": %.1f, "p90_ms": %.1f, '
      .. '"p99_ms": %.1f, "max_ms": %.1f, "snapshots": "%s"}\n',
    summary.requests, e.connect + e.read + e.write + e.timeout, bad, tear,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, snaps))
end
