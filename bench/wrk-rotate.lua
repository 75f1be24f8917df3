-- wrk script for bench/run.sh: rotates requests over a set of targets and
-- prints one machine-readable result line (WRKRESULT ...) from done().
--
--   wrk ... -s bench/wrk-rotate.lua URL -- small LISTFILE
--       GET each path of LISTFILE (one absolute path per line) in turn.
--   wrk ... -s bench/wrk-rotate.lua URL -- range PATH SIZE RANGEBYTES
--       GET PATH with "Range: bytes=A-B" where A walks over SIZE in steps of
--       RANGEBYTES (a 1 GiB file in 16 MiB ranges: 64 different offsets), so
--       the ranged read is not always the same span of the page cache.

local reqs = {}
local n, i = 0, 0

function init(args)
  local mode = args[1]
  if mode == "small" then
    for line in io.lines(args[2]) do
      if line ~= "" then
        n = n + 1
        reqs[n] = wrk.format("GET", line)
      end
    end
  elseif mode == "range" then
    local path, size, step = args[2], tonumber(args[3]), tonumber(args[4])
    local off = 0
    while off < size do
      local last = math.min(off + step, size) - 1
      n = n + 1
      reqs[n] = wrk.format("GET", path, { ["Range"] = string.format("bytes=%d-%d", off, last) })
      off = off + step
    end
  else
    error("wrk-rotate.lua: mode must be 'small' or 'range'")
  end
  if n == 0 then error("wrk-rotate.lua: nothing to request") end
  -- Start each thread at a different place in the rotation.
  i = math.random(0, n - 1)
end

function request()
  i = i % n + 1
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKRESULT requests=%d bytes=%d duration_us=%d status_errors=%d socket_errors=%d\n",
    summary.requests, summary.bytes, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout))
end
