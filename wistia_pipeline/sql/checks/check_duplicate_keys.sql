-- Event keys that appear more than once on one day of a stage table ($1 = the table's name,
-- $2..$3 = days); filtered_views per destination. The first 10, each row with the total.
WITH stage_keys AS (
    SELECT day, '*' AS destination, event_key FROM wistia_events
    WHERE $1 = 'wistia_events' AND day BETWEEN $2 AND $3 AND event_key IS NOT NULL
    UNION ALL
    SELECT day, '*', event_key FROM converted_views
    WHERE $1 = 'converted_views' AND day BETWEEN $2 AND $3
    UNION ALL
    SELECT day, '*', event_key FROM matched_views
    WHERE $1 = 'matched_views' AND day BETWEEN $2 AND $3
    UNION ALL
    SELECT day, destination, event_key FROM filtered_views
    WHERE $1 = 'filtered_views' AND day BETWEEN $2 AND $3
),
duplicates AS (
    SELECT day, destination, event_key, count(*) AS copies
    FROM stage_keys
    GROUP BY ALL
    HAVING count(*) > 1
)
SELECT day, destination, event_key, copies, count(*) OVER () AS total
FROM duplicates
ORDER BY day, destination, event_key
LIMIT 10;
