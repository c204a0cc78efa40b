-- Refusals that turn out to be the view's own ($1 destination, $2 their event_keys, $3 run_id):
-- Upsales accepted other views of the same run, so these stay refused until `retry` re-offers them.
UPDATE synced_ledger
SET status = 'rejected'
WHERE destination = $1 AND list_contains($2::VARCHAR[], event_key) AND status = 'pending' AND run_id = $3;
