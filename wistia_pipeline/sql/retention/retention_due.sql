-- What retention removes now (after retention_mark): per table, the rows of days past retention
-- that still hold personal data (an email, a name, a heatmap link, the raw JSON, a payload copy or
-- an error text), the look-up answers to delete, and `held_unsettled`: views of those days kept
-- until a destination settles them.
-- Parameters:
--   $cutoff: the first day kept; every day before it is past retention
SELECT 'wistia_events' AS table_name, count(*) AS rows FROM wistia_events
 WHERE day < $cutoff AND event_key NOT IN (SELECT event_key FROM _retention_held)
   AND (raw IS NOT NULL OR email IS NOT NULL OR conversion_email IS NOT NULL OR visitor_key IS NOT NULL
        OR first_name IS NOT NULL OR last_name IS NOT NULL OR iframe_heatmap_url IS NOT NULL)
UNION ALL
SELECT 'converted_views', count(*) FROM converted_views
 WHERE day < $cutoff AND event_key NOT IN (SELECT event_key FROM _retention_held)
   AND (email IS NOT NULL OR email_lower IS NOT NULL OR first_name IS NOT NULL OR last_name IS NOT NULL
        OR heatmap_url IS NOT NULL)
UNION ALL
SELECT 'matched_views', count(*) FROM matched_views
 WHERE day < $cutoff AND event_key NOT IN (SELECT event_key FROM _retention_held)
   AND (email IS NOT NULL OR contact_name IS NOT NULL OR heatmap_url IS NOT NULL)
UNION ALL
SELECT 'filtered_views', count(*) FROM filtered_views
 WHERE day < $cutoff AND event_key NOT IN (SELECT event_key FROM _retention_held)
   AND (email IS NOT NULL OR first_name IS NOT NULL OR last_name IS NOT NULL OR contact_name IS NOT NULL
        OR heatmap_url IS NOT NULL)
UNION ALL
SELECT 'view_rejections', count(*) FROM view_rejections
 WHERE day < $cutoff AND event_key NOT IN (SELECT event_key FROM _retention_held) AND detail LIKE '%@%'
UNION ALL
SELECT 'view_outcomes', count(*) FROM view_outcomes
 WHERE day < $cutoff AND event_key NOT IN (SELECT event_key FROM _retention_held) AND email IS NOT NULL
UNION ALL
SELECT 'synced_ledger', count(*) FROM synced_ledger
 WHERE day < $cutoff AND event_key NOT IN (SELECT event_key FROM _retention_held)
   AND (value IS NOT NULL OR last_error IS NOT NULL)
UNION ALL
SELECT 'ledger_attempts', count(*) FROM ledger_attempts AS a
 WHERE a.error IS NOT NULL AND a.event_key NOT IN (SELECT event_key FROM _retention_held)
   AND EXISTS (SELECT 1 FROM synced_ledger AS l WHERE l.destination = a.destination AND l.event_key = a.event_key
                                                  AND l.day < $cutoff)
UNION ALL
SELECT 'upsales_lookups', count(*) FROM upsales_lookups
 WHERE (kind, asked) IN (SELECT (kind, asked) FROM _retention_lookups)
UNION ALL
SELECT 'upsales_lookup_contacts', count(*) FROM upsales_lookup_contacts
 WHERE (kind, asked) IN (SELECT (kind, asked) FROM _retention_lookups)
UNION ALL
SELECT 'held_unsettled', count(DISTINCT event_key) FROM wistia_events
 WHERE day < $cutoff AND event_key IN (SELECT event_key FROM _retention_held);
