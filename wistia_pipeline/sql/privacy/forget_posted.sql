-- The person's views already in Upsales (forget_targets.sql found them): the erasure does not
-- reach Upsales, so `forget` names these for the operator to delete there if the request covers it.
-- Parameters: none (it reads the temp tables of forget_targets.sql)
SELECT destination, upsales_id
FROM synced_ledger
WHERE event_key IN (SELECT event_key FROM _forget_keys) AND status = 'posted' AND upsales_id IS NOT NULL
ORDER BY destination, upsales_id;
