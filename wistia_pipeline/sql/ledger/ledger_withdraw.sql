-- Queued views of the window ($1..$2, destination $3) that no longer qualify: the last run over
-- their day filtered them out (a higher minimum %, a project no longer enabled). Only `pending`
-- rows go: they were never stored in Upsales (an `in_flight` row may have been, and stays to be
-- looked up). Their attempts, if any, stay in ledger_attempts.
DELETE FROM synced_ledger AS l
WHERE l.destination = $3
  AND l.status = 'pending'
  AND l.day BETWEEN $1 AND $2
  AND NOT EXISTS (SELECT 1 FROM filtered_views AS f WHERE f.destination = l.destination AND f.event_key = l.event_key);
