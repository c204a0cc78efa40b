-- Rows per day of every stage table in days $1..$2 (filtered_views per destination), for the
-- check that no stage holds more views than the stage it reads from (checks.stage_counts makes one
-- row per day of them).
WITH stage_rows AS (
    SELECT day, 'events' AS stage FROM wistia_events
    WHERE day BETWEEN $1 AND $2 AND event_key IS NOT NULL
    UNION ALL
    SELECT day, 'converted' FROM converted_views WHERE day BETWEEN $1 AND $2
    UNION ALL
    SELECT day, 'matched' FROM matched_views WHERE day BETWEEN $1 AND $2
    UNION ALL
    SELECT day, 'filtered_' || destination FROM filtered_views WHERE day BETWEEN $1 AND $2
)
SELECT day, stage, count(*) AS views
FROM stage_rows
GROUP BY day, stage
ORDER BY day, stage;
