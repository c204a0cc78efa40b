-- The post succeeded (or was found in Upsales): $1 destination, $2 event_key, $3 Upsales id,
-- $4 run_id. Only a row in flight moves: a posted row keeps the id it was confirmed with.
UPDATE synced_ledger
SET status = 'posted', upsales_id = $3, posted_at = now() AT TIME ZONE 'UTC', run_id = $4,
    last_error = NULL
WHERE destination = $1 AND event_key = $2 AND status = 'in_flight';
