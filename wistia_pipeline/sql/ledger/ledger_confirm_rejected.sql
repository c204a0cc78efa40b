-- Refusals that turn out to be the view's own: Upsales accepted other views of the same run, so
-- these stay refused until `retry` re-offers them.
-- Parameters:
--   $destination: the destination (sinks/registry.py)
--   $event_keys: the refused views' event_keys (a list)
--   $run_id: this run's id
UPDATE synced_ledger
SET status = 'rejected'
WHERE destination = $destination AND list_contains($event_keys::VARCHAR[], event_key) AND status = 'pending'
  AND run_id = $run_id;
