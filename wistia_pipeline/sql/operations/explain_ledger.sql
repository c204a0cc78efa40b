-- The ledger rows of some views ($1 = their event_keys), every destination.
SELECT *
FROM synced_ledger
WHERE list_contains($1::VARCHAR[], event_key)
ORDER BY event_key, destination;
