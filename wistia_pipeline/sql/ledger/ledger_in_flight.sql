-- Ledger rows of a destination whose post was started but never confirmed (a crash or a lost
-- response): they are looked up in Upsales before anything is posted again.
-- Parameters:
--   $destination: the destination (sinks/registry.py)
SELECT event_key, external_id, form_id
FROM synced_ledger
WHERE destination = $destination AND status = 'in_flight'
ORDER BY first_seen_at, event_key;
