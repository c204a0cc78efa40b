-- Ledger rows Upsales refused for good (the whole ledger), the first 10 with the total: they are
-- never posted again by themselves, so every run says how many there are.
SELECT destination, event_key, day, last_error, count(*) OVER () AS total
FROM synced_ledger
WHERE status = 'rejected'
ORDER BY day DESC, destination, event_key
LIMIT 10;
