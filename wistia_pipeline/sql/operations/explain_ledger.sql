-- The ledger rows of some views, every destination.
-- Parameters:
--   $event_keys: the views' event_keys (a list)
SELECT *
FROM synced_ledger
WHERE list_contains($event_keys::VARCHAR[], event_key)
ORDER BY event_key, destination;
