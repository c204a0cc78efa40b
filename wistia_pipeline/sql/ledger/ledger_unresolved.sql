-- Ledger rows of a destination that are still to settle but that no run can post: their view is
-- not in filtered_views (its day was never synced since, or it no longer qualifies while it may
-- have been stored). Counted in every run's report; a backfill of their day settles them.
-- Parameters:
--   $destination: the destination (sinks/registry.py)
SELECT l.status, l.day, l.event_key
FROM synced_ledger AS l
WHERE l.destination = $destination
  AND l.status IN ('pending', 'in_flight')
  AND NOT EXISTS (SELECT 1 FROM filtered_views AS f WHERE f.destination = l.destination AND f.event_key = l.event_key)
ORDER BY l.day, l.event_key;
