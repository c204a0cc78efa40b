-- What retention would remove now: per table, the rows of expired days that still hold personal
-- data (an email, a name, a heatmap link, the raw JSON, a payload or error text). A view whose
-- ledger row is still pending or in flight for any destination is held until it is settled
-- (its post needs them); it is counted as `held_unsettled`.
-- Parameters:
--   $cutoff: the first day kept; every day before it is past retention
WITH held AS (SELECT DISTINCT event_key FROM synced_ledger WHERE status IN ('pending', 'in_flight'))
SELECT 'wistia_events' AS table_name, count(*) AS rows FROM wistia_events
 WHERE day < $cutoff AND event_key NOT IN (SELECT event_key FROM held)
   AND (raw IS NOT NULL OR email IS NOT NULL OR conversion_email IS NOT NULL OR visitor_key IS NOT NULL
        OR first_name IS NOT NULL OR last_name IS NOT NULL OR iframe_heatmap_url IS NOT NULL)
UNION ALL
SELECT 'converted_views', count(*) FROM converted_views
 WHERE day < $cutoff AND event_key NOT IN (SELECT event_key FROM held)
   AND (email IS NOT NULL OR email_lower IS NOT NULL OR first_name IS NOT NULL OR last_name IS NOT NULL
        OR heatmap_url IS NOT NULL)
UNION ALL
SELECT 'matched_views', count(*) FROM matched_views
 WHERE day < $cutoff AND event_key NOT IN (SELECT event_key FROM held)
   AND (email IS NOT NULL OR contact_name IS NOT NULL OR heatmap_url IS NOT NULL)
UNION ALL
SELECT 'filtered_views', count(*) FROM filtered_views
 WHERE day < $cutoff AND event_key NOT IN (SELECT event_key FROM held)
   AND (email IS NOT NULL OR first_name IS NOT NULL OR last_name IS NOT NULL OR contact_name IS NOT NULL
        OR heatmap_url IS NOT NULL)
UNION ALL
SELECT 'view_rejections', count(*) FROM view_rejections
 WHERE day < $cutoff AND event_key NOT IN (SELECT event_key FROM held) AND detail LIKE '%@%'
UNION ALL
SELECT 'view_outcomes', count(*) FROM view_outcomes
 WHERE day < $cutoff AND event_key NOT IN (SELECT event_key FROM held) AND email IS NOT NULL
UNION ALL
SELECT 'synced_ledger', count(*) FROM synced_ledger
 WHERE day < $cutoff AND status NOT IN ('pending', 'in_flight') AND event_key NOT IN (SELECT event_key FROM held)
   AND (value IS NOT NULL OR last_error IS NOT NULL)
UNION ALL
SELECT 'ledger_attempts', count(*) FROM ledger_attempts AS a
 WHERE a.error IS NOT NULL AND a.event_key NOT IN (SELECT event_key FROM held)
   AND EXISTS (SELECT 1 FROM synced_ledger AS l WHERE l.destination = a.destination AND l.event_key = a.event_key
                                                  AND l.day < $cutoff)
UNION ALL
SELECT 'upsales_lookups', count(*) FROM upsales_lookups WHERE looked_up_at < CAST($cutoff AS TIMESTAMP)
UNION ALL
SELECT 'upsales_lookup_contacts', count(*) FROM upsales_lookup_contacts AS c
 WHERE EXISTS (SELECT 1 FROM upsales_lookups AS k WHERE k.kind = c.kind AND k.asked = c.asked
                                                   AND k.looked_up_at < CAST($cutoff AS TIMESTAMP))
UNION ALL
SELECT 'held_unsettled', count(DISTINCT e.event_key) FROM wistia_events AS e
 WHERE e.day < $cutoff AND e.event_key IN (SELECT event_key FROM held);
