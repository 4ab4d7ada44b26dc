--[[ MondrianPoll.lua: follow a review until it ends (pure Lua; LrHttp cannot stream, so poll).

Poll.run{fetch, sleep, isCanceled, cancel, onProgress, interval, timeout, clock, retries}:
  fetch()         -> payload (GET /reviews/{id}) or nil, error text
  sleep(s)        LrTasks.sleep
  isCanceled()    the progress scope's cancel button
  cancel()        DELETE /reviews/{id}/run
  onProgress(p)   each payload, for the progress bar
Returns {state = "completed" | "cancelled" | "failed" | "timeout" | "lost", payload, error}.
]]

local Poll = {}

Poll.ENDED = { completed = true, cancelled = true, failed = true }

function Poll.ended(payload)
  local review = payload and payload.review
  return review ~= nil and Poll.ENDED[review.state] == true and not payload.running
end

function Poll.run(opts)
  local interval, retries = opts.interval or 1, opts.retries or 5
  local clock = opts.clock or os.time
  local deadline = opts.timeout and (clock() + opts.timeout) or nil
  local last, misses, cancelling = nil, 0, false
  while true do
    if not cancelling and opts.isCanceled and opts.isCanceled() then
      cancelling = true
      if opts.cancel then opts.cancel() end
    end
    local payload, err = opts.fetch()
    if payload then
      misses, last = 0, payload
      if opts.onProgress then opts.onProgress(payload) end
      if Poll.ended(payload) then
        local state = payload.review.state
        return { state = state, payload = payload, cancelled = cancelling }
      end
    else
      misses = misses + 1
      if misses >= retries then
        return { state = "lost", payload = last, error = err, cancelled = cancelling }
      end
    end
    if deadline and clock() >= deadline then
      if opts.cancel and not cancelling then opts.cancel() end
      return { state = "timeout", payload = last, cancelled = cancelling }
    end
    opts.sleep(interval)
  end
end

return Poll
