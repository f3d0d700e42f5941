-- wrk sends prepared requests: each line of a file is one request's body or one header's value.
--
--   wrk -t2 -c16 -d10s --latency -H "..." -s bench/wrk/prepared.lua URL -- FILE MODE THREADS METHOD TARGET EXPECT
--
-- FILE     one payload a line, written by bench/sidebyside.py (codes, refresh tokens, access tokens)
-- MODE     "once": every line is sent once (a code or a refresh token is good once); a thread
--          whose lines are used up stops and the run is reported as exhausted.
--          "cycle": the lines are sent again and again (an access token serves many requests).
-- THREADS  wrk's -t: thread i of n sends lines i, i+n, i+2n, ... so no line goes out twice.
-- METHOD   GET or POST.
-- TARGET   "body", or the name of the header that carries the line (Authorization).
-- EXPECT   a Lua pattern a good answer's body contains ("id_token", '"active":%s*true').
--
-- A response that is not 2xx, or whose body lacks EXPECT, counts as bad. done() prints
-- "prepared: bad N exhausted N" for the benchmark, which counts bad answers as errors.

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   local file, threads_count
   file, mode, threads_count, method, target, expect = args[1], args[2], tonumber(args[3]), args[4], args[5], args[6]
   lines = {}
   local index = 0
   for line in io.lines(file) do
      if line ~= "" then
         if index % threads_count == id then
            lines[#lines + 1] = line
         end
         index = index + 1
      end
   end
   following = 1
   bad = 0
   exhausted = 0
end

function request()
   if following > #lines then
      if mode == "cycle" then
         following = 1
      else
         exhausted = 1
         wrk.thread:stop()
         -- Something must go out on this connection: a request that consumes nothing,
         -- whose answer is never read (the thread stops first).
         return wrk.format("GET", "/.well-known/openid-configuration", nil, "")
      end
   end
   local line = lines[following]
   following = following + 1
   if target == "body" then
      return wrk.format(method, nil, nil, line)
   end
   wrk.headers[target] = line
   return wrk.format(method)
end

function response(status, headers, body)
   if status < 200 or status > 299 or not string.find(body, expect) then
      bad = bad + 1
   end
end

function done(summary, latency, requests)
   local total_bad, total_exhausted = 0, 0
   for _, thread in ipairs(threads) do
      total_bad = total_bad + thread:get("bad")
      total_exhausted = total_exhausted + thread:get("exhausted")
   end
   io.write(string.format("prepared: bad %d exhausted %d\n", total_bad, total_exhausted))
end
