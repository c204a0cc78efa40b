-- Re-offer ledger rows (`wistia-pipeline retry`). Each row's state before is kept in
-- ledger_attempts; rows not in flight become `pending` and are looked up in Upsales before their
-- post (lookup_first). An in-flight row stays in flight: it may have been stored, and is looked up
-- first anyway.
-- Parameters:
--   $destination: the destination (sinks/registry.py)
--   $statuses: the statuses to re-offer (a list)
--   $first: the first day (NULL: any)
--   $last: the last day (NULL: any)
--   $email: the viewer's email, lower-cased (NULL: any)
--   $event_key: one event_key (NULL: any)
--   $requested_at: now (UTC), the time of the retry kept in ledger_attempts
CREATE OR REPLACE TEMP TABLE retry_rows AS
SELECT l.destination, l.event_key, l.status, l.last_error
FROM synced_ledger AS l
WHERE l.destination = $destination
  AND list_contains($statuses::VARCHAR[], l.status)
  AND ($first::DATE IS NULL OR l.day >= $first::DATE)
  AND ($last::DATE IS NULL OR l.day <= $last::DATE)
  AND ($event_key::VARCHAR IS NULL OR l.event_key = $event_key::VARCHAR)
  AND ($email::VARCHAR IS NULL OR l.event_key IN (SELECT event_key FROM converted_views WHERE email_lower = $email::VARCHAR));

INSERT INTO ledger_attempts
SELECT destination, event_key, $requested_at::TIMESTAMP, NULL, 'retry_requested',
       'was ' || status || coalesce(': ' || last_error, '')
FROM retry_rows;

UPDATE synced_ledger AS l
SET status = CASE WHEN l.status = 'in_flight' THEN 'in_flight' ELSE 'pending' END,
    lookup_first = true
FROM retry_rows AS r
WHERE l.destination = r.destination AND l.event_key = r.event_key;
