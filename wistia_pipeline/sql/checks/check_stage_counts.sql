-- Rows per day of every stage table (filtered_views per destination), for the check that no
-- stage holds more views than the stage it reads from (checks.stage_counts makes one row per day
-- of them).
-- Parameters:
--   $first: the first day
--   $last: the last day
WITH stage_rows AS (
    SELECT day, 'events' AS stage FROM wistia_events
    WHERE day BETWEEN $first AND $last AND event_key IS NOT NULL
    UNION ALL
    SELECT day, 'converted' FROM converted_views WHERE day BETWEEN $first AND $last
    UNION ALL
    SELECT day, 'matched' FROM matched_views WHERE day BETWEEN $first AND $last
    UNION ALL
    SELECT day, 'filtered_' || destination FROM filtered_views WHERE day BETWEEN $first AND $last
)
SELECT day, stage, count(*) AS views
FROM stage_rows
GROUP BY day, stage
ORDER BY day, stage;
