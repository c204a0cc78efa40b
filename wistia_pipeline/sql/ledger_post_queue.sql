-- The post queue of a destination ($3): every ledger row still to settle (`pending`: never
-- stored; `in_flight`: may have been stored, looked up first), whatever its day, with the view as
-- filtered_views has it (an event_key on two days: its latest day), oldest first (queue_position;
-- it may have gaps). `carried_over` marks views whose day is outside this run's window ($1..$2):
-- queued by an earlier run, posted now. A temp table, read a batch at a time, so that no reader
-- stays open while the ledger is written.
CREATE OR REPLACE TEMP TABLE post_queue AS
SELECT row_number() OVER (ORDER BY f.received_at NULLS LAST, f.event_key, f.day) AS queue_position,
       f.*,
       l.status AS ledger_status,
       coalesce(l.lookup_first, false) AS lookup_first,
       f.day NOT BETWEEN $1 AND $2 AS carried_over
FROM synced_ledger AS l
JOIN filtered_views AS f ON f.destination = l.destination AND f.event_key = l.event_key
WHERE l.destination = $3
  AND l.status IN ('pending', 'in_flight')
QUALIFY row_number() OVER (PARTITION BY f.event_key ORDER BY f.day DESC) = 1;
