-- The post succeeded (or was found in Upsales). Only a row in flight moves: a posted row keeps
-- the id it was confirmed with.
-- Parameters:
--   $destination: the destination (sinks/registry.py)
--   $event_key: the view
--   $upsales_id: the Upsales id of the entry
--   $run_id: this run's id
UPDATE synced_ledger
SET status = 'posted', upsales_id = $upsales_id, posted_at = now() AT TIME ZONE 'UTC', run_id = $run_id,
    last_error = NULL
WHERE destination = $destination AND event_key = $event_key AND status = 'in_flight';
