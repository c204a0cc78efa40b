-- Ledger rows marked posted that carry no Upsales id (the whole ledger: one row per view ever
-- sent). The first 10, each row with the total.
SELECT destination, event_key, day, run_id, count(*) OVER () AS total
FROM synced_ledger
WHERE status = 'posted' AND nullif(trim(upsales_id), '') IS NULL
ORDER BY day, destination, event_key
LIMIT 10;
