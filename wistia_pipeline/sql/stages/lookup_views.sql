-- The views of some days the contact look-ups consider, each with whether an answer could still
-- bring it to a post: not posted or rejected in every destination taking matched views, and
-- passing the filters (filter_reason, schema.sql; a media missing from wistia_medias or without a
-- project counts as passing, as that table may predate the media). lookup_emails_to_ask.sql and
-- lookup_domains_to_ask.sql read it.
-- Parameters:
--   $first: the first day
--   $last: the last day
--   $min_percent: the minimum percent watched, 0..100 (MIN_PERCENT_WATCHED)
--   $projects: the project filter's entries (WISTIA_PROJECTS; empty: all projects)
--   $matched_destinations: the destinations taking matched views (sinks/registry.py)
CREATE OR REPLACE TEMP TABLE _lookup_views AS
WITH settled AS (
    SELECT event_key FROM synced_ledger
    WHERE list_contains($matched_destinations::VARCHAR[], destination)
      AND status IN ('posted', 'rejected')
    GROUP BY event_key HAVING count(*) = len($matched_destinations::VARCHAR[])
)
SELECT v.email_lower, v.email_domain,
       s.event_key IS NULL
       AND coalesce(filter_reason(v.percent_viewed, $min_percent, $projects::VARCHAR[], m.hashed_id,
                                  m.project_id, m.project_hashed_id, m.project_name) = 'unknown_project',
                    true) AS may_post
FROM converted_views AS v
LEFT JOIN settled AS s ON s.event_key = v.event_key
LEFT JOIN wistia_medias AS m ON m.hashed_id = v.media_id
WHERE v.day BETWEEN $first AND $last AND v.email_lower <> '';
