-- Retention (issue #15, RETENTION_DAYS): drop the personal data of every day before $cutoff.
-- Stage rows stay (their ids, counts, percent, video, outcome: an old day's funnel and `explain`
-- still read them) with the email, names, heatmap link and raw JSON set to NULL; the ledger keeps
-- its guarantee fields (destination, event_key, day, status, Upsales id, externalId, client and
-- contact ids, form, times, run) and loses its payload copy (`value`) and error text, as do the
-- attempts of those views; look-up answers older than the cutoff are deleted (they are asked again
-- when needed), as is any answer asked for or holding an email only views past retention had.
-- Views still pending or in flight are held until settled. Runs after retention_mark (its temp
-- tables: what is held, which emails, which answers); retention_unmark drops them.
-- Parameters:
--   $cutoff: the first day kept; every day before it is past retention
UPDATE wistia_events
SET raw = NULL, email = NULL, conversion_email = NULL, visitor_key = NULL, first_name = NULL,
    last_name = NULL, iframe_heatmap_url = NULL
WHERE day < $cutoff AND event_key NOT IN (SELECT event_key FROM _retention_held)
  AND (raw IS NOT NULL OR email IS NOT NULL OR conversion_email IS NOT NULL OR visitor_key IS NOT NULL
       OR first_name IS NOT NULL OR last_name IS NOT NULL OR iframe_heatmap_url IS NOT NULL);

UPDATE converted_views
SET email = NULL, email_lower = NULL, first_name = NULL, last_name = NULL, heatmap_url = NULL
WHERE day < $cutoff AND event_key NOT IN (SELECT event_key FROM _retention_held)
  AND (email IS NOT NULL OR email_lower IS NOT NULL OR first_name IS NOT NULL OR last_name IS NOT NULL
       OR heatmap_url IS NOT NULL);

UPDATE matched_views
SET email = NULL, contact_name = NULL, heatmap_url = NULL
WHERE day < $cutoff AND event_key NOT IN (SELECT event_key FROM _retention_held)
  AND (email IS NOT NULL OR contact_name IS NOT NULL OR heatmap_url IS NOT NULL);

UPDATE filtered_views
SET email = NULL, first_name = NULL, last_name = NULL, contact_name = NULL, heatmap_url = NULL
WHERE day < $cutoff AND event_key NOT IN (SELECT event_key FROM _retention_held)
  AND (email IS NOT NULL OR first_name IS NOT NULL OR last_name IS NOT NULL OR contact_name IS NOT NULL
       OR heatmap_url IS NOT NULL);

-- The invalid email an `invalid_email` rejection recorded (other details: a domain, a percent, a project).
UPDATE view_rejections
SET detail = NULL
WHERE day < $cutoff AND event_key NOT IN (SELECT event_key FROM _retention_held) AND detail LIKE '%@%';

UPDATE view_outcomes
SET email = NULL
WHERE day < $cutoff AND event_key NOT IN (SELECT event_key FROM _retention_held) AND email IS NOT NULL;

UPDATE ledger_attempts AS a
SET error = NULL
WHERE a.error IS NOT NULL AND a.event_key NOT IN (SELECT event_key FROM _retention_held)
  AND EXISTS (SELECT 1 FROM synced_ledger AS l WHERE l.destination = a.destination AND l.event_key = a.event_key
                                                 AND l.day < $cutoff);

UPDATE synced_ledger
SET value = NULL, last_error = NULL
WHERE day < $cutoff
  AND event_key NOT IN (SELECT event_key FROM _retention_held)
  AND (value IS NOT NULL OR last_error IS NOT NULL);

DELETE FROM upsales_lookup_contacts WHERE (kind, asked) IN (SELECT (kind, asked) FROM _retention_lookups);

DELETE FROM upsales_lookups WHERE (kind, asked) IN (SELECT (kind, asked) FROM _retention_lookups);
