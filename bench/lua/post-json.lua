-- A refused write: POST with a small JSON body, asking for a JSON reply.
-- Used by bench/gate.sh against maintgate (read-only mode) and against nginx.
wrk.method = "POST"
wrk.body = '{"title":"hello","text":"a small note"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
