-- Re-offer ledger rows (`wistia-pipeline retry`): $1 destination, $2 the statuses to re-offer,
-- $3/$4 first/last day (NULL: any), $5 the viewer's email lower-cased (NULL: any), $6 one
-- event_key (NULL: any), $7 now (UTC). Each row's state before is kept in ledger_attempts; rows
-- not in flight become `pending` and are looked up in Upsales before their post (lookup_first).
-- An in-flight row stays in flight: it may have been stored, and is looked up first anyway.
CREATE OR REPLACE TEMP TABLE retry_rows AS
SELECT l.destination, l.event_key, l.status, l.last_error
FROM synced_ledger AS l
WHERE l.destination = $1
  AND list_contains($2::VARCHAR[], l.status)
  AND ($3::DATE IS NULL OR l.day >= $3::DATE)
  AND ($4::DATE IS NULL OR l.day <= $4::DATE)
  AND ($6::VARCHAR IS NULL OR l.event_key = $6::VARCHAR)
  AND ($5::VARCHAR IS NULL OR l.event_key IN (SELECT event_key FROM converted_views WHERE email_lower = $5::VARCHAR));

INSERT INTO ledger_attempts
SELECT destination, event_key, $7::TIMESTAMP, NULL, 'retry_requested',
       'was ' || status || coalesce(': ' || last_error, '')
FROM retry_rows;

UPDATE synced_ledger AS l
SET status = CASE WHEN l.status = 'in_flight' THEN 'in_flight' ELSE 'pending' END,
    lookup_first = true
FROM retry_rows AS r
WHERE l.destination = r.destination AND l.event_key = r.event_key;
