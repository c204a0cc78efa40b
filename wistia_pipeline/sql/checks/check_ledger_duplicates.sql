-- (destination, event_key) pairs held more than once in the ledger (the whole ledger). The
-- first 10, each row with the total.
SELECT destination, event_key, count(*) AS copies, count(*) OVER () AS total
FROM synced_ledger
GROUP BY destination, event_key
HAVING count(*) > 1
ORDER BY destination, event_key
LIMIT 10;
