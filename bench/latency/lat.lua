-- SPDX-License-Identifier: MIT
-- wrk script: at the end, one machine-readable line with the request
-- count, errors and the latency percentiles wrk does not print itself.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\": %d, \"duration_us\": %d, \"errors\": %d, \"non2xx\": %d, " ..
    "\"p50_us\": %d, \"p99_us\": %d, \"p999_us\": %d, \"mean_us\": %.2f}\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.mean))
end
