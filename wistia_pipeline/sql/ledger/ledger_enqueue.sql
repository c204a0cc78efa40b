-- Queue the window's candidates in the ledger: views that passed every filter and are not in the
-- ledger yet become `pending`. Written (and committed) before anything is posted, so a view seen
-- inside the lookback stays queued, and is posted by a later run, even when its day leaves the
-- window before it could be posted (a run that failed or was killed on the window's oldest day).
-- An event_key on two days is queued once. Returns how many were queued.
-- Parameters:
--   $first: the window's first day
--   $last: the window's last day
--   $destination: the destination (sinks/registry.py)
--   $lookup_first: whether each must be looked up in Upsales before its post (as when the
--     destination's ledger was empty)
INSERT INTO synced_ledger (destination, event_key, day, status, attempts, first_seen_at, lookup_first)
SELECT f.destination, f.event_key, f.day, 'pending', 0, now() AT TIME ZONE 'UTC', $lookup_first
FROM filtered_views AS f
WHERE f.day BETWEEN $first AND $last
  AND f.destination = $destination
  AND NOT EXISTS (SELECT 1 FROM synced_ledger AS l WHERE l.destination = f.destination AND l.event_key = f.event_key)
QUALIFY row_number() OVER (PARTITION BY f.event_key ORDER BY f.day DESC) = 1
ON CONFLICT DO NOTHING;
