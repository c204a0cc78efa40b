-- Event keys that appear more than once on one day of a stage table; filtered_views per
-- destination. The first 10, each row with the total.
-- Parameters:
--   $table: the stage table's name (one of db.STAGE_TABLES)
--   $first: the first day
--   $last: the last day
WITH stage_keys AS (
    SELECT day, '*' AS destination, event_key FROM wistia_events
    WHERE $table = 'wistia_events' AND day BETWEEN $first AND $last AND event_key IS NOT NULL
    UNION ALL
    SELECT day, '*', event_key FROM converted_views
    WHERE $table = 'converted_views' AND day BETWEEN $first AND $last
    UNION ALL
    SELECT day, '*', event_key FROM matched_views
    WHERE $table = 'matched_views' AND day BETWEEN $first AND $last
    UNION ALL
    SELECT day, destination, event_key FROM filtered_views
    WHERE $table = 'filtered_views' AND day BETWEEN $first AND $last
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
