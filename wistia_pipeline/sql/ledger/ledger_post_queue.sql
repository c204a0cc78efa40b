-- The post queue of a destination: every ledger row still to settle (`pending`: never stored;
-- `in_flight`: may have been stored, looked up first), whatever its day, plus the window's
-- qualifying views the ledger does not hold yet (none once `ledger_enqueue` has run; a dry run
-- queues nothing and sees them here), with the view as filtered_views has it (an event_key on two
-- days: its latest day), oldest first (queue_position; it may have gaps). `carried_over` marks
-- views whose day is outside this run's window: queued by an earlier run, posted now. A temp
-- table, read a batch at a time, so that no reader stays open while the ledger is written.
-- Parameters:
--   $first: the window's first day
--   $last: the window's last day
--   $destination: the destination (sinks/registry.py)
--   $lookup_first: `lookup_first` of a view not in the ledger
--   $emails: only these viewers' emails, lower-cased (a list; NULL: everyone)
CREATE OR REPLACE TEMP TABLE post_queue AS
SELECT row_number() OVER (ORDER BY f.received_at NULLS LAST, f.event_key, f.day) AS queue_position,
       f.*,
       coalesce(l.status, 'new') AS ledger_status,
       coalesce(l.lookup_first, $lookup_first::BOOLEAN) AS lookup_first,
       f.day NOT BETWEEN $first AND $last AS carried_over
FROM filtered_views AS f
LEFT JOIN synced_ledger AS l ON l.destination = f.destination AND l.event_key = f.event_key
WHERE f.destination = $destination
  AND (l.status IN ('pending', 'in_flight') OR (l.event_key IS NULL AND f.day BETWEEN $first AND $last))
  AND ($emails::VARCHAR[] IS NULL OR list_contains($emails::VARCHAR[], lower(f.email)))
QUALIFY row_number() OVER (PARTITION BY f.event_key ORDER BY f.day DESC) = 1;
