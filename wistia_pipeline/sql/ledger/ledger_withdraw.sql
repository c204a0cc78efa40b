-- Queued views of the window that no longer qualify: the last run over their day filtered them
-- out (a higher minimum %, a project no longer enabled). Only `pending` rows go: they were never
-- stored in Upsales (an `in_flight` row may have been, and stays to be looked up). Their attempts,
-- if any, stay in ledger_attempts.
-- Parameters:
--   $first: the window's first day
--   $last: the window's last day
--   $destination: the destination (sinks/registry.py)
DELETE FROM synced_ledger AS l
WHERE l.destination = $destination
  AND l.status = 'pending'
  AND l.day BETWEEN $first AND $last
  AND NOT EXISTS (SELECT 1 FROM filtered_views AS f WHERE f.destination = l.destination AND f.event_key = l.event_key);
