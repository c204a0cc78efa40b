-- Views of a destination ($3) in days $1..$2 that passed every filter and are not yet in the
-- ledger as posted or rejected: what the sink posts, oldest first. An event_key Wistia reported
-- on two days of the window is offered once (its latest day).
SELECT f.*
FROM filtered_views AS f
LEFT JOIN synced_ledger AS l ON l.destination = f.destination AND l.event_key = f.event_key
WHERE f.day BETWEEN $1 AND $2
  AND f.destination = $3
  AND (l.event_key IS NULL OR l.status = 'in_flight')
QUALIFY row_number() OVER (PARTITION BY f.event_key ORDER BY f.day DESC) = 1
ORDER BY f.received_at NULLS LAST, f.event_key;
