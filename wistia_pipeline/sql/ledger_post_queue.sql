-- The post queue: views of a destination ($3) in days $1..$2 that passed every filter and are not
-- yet in the ledger as posted or rejected, numbered oldest first (queue_position; it may have
-- gaps). An event_key Wistia reported on two days of the window is offered once (its latest day).
-- A temp table, read a batch at a time, so that no reader stays open while the ledger is written.
CREATE OR REPLACE TEMP TABLE post_queue AS
SELECT row_number() OVER (ORDER BY f.received_at NULLS LAST, f.event_key, f.day) AS queue_position, f.*
FROM filtered_views AS f
LEFT JOIN synced_ledger AS l ON l.destination = f.destination AND l.event_key = f.event_key
WHERE f.day BETWEEN $1 AND $2
  AND f.destination = $3
  AND (l.event_key IS NULL OR l.status = 'in_flight')
QUALIFY row_number() OVER (PARTITION BY f.event_key ORDER BY f.day DESC) = 1;
