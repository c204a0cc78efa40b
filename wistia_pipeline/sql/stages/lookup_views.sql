-- The views of days $1..$2 the contact look-ups consider, each with whether an answer could still
-- bring it to a post ($3, $4 = MIN_PERCENT_WATCHED and the project filter; $5 = the destinations
-- taking matched views): not posted or rejected in every one of them, and passing the filters
-- (filter_reason, schema.sql; a media missing from wistia_medias or without a project counts as
-- passing, as that table may predate the media). lookup_emails_to_ask.sql and
-- lookup_domains_to_ask.sql read it.
CREATE OR REPLACE TEMP TABLE _lookup_views AS
WITH settled AS (
    SELECT event_key FROM synced_ledger
    WHERE list_contains($5::VARCHAR[], destination) AND status IN ('posted', 'rejected')
    GROUP BY event_key HAVING count(*) = len($5::VARCHAR[])
)
SELECT v.email_lower, v.email_domain,
       s.event_key IS NULL
       AND coalesce(filter_reason(v.percent_viewed, $3, $4::VARCHAR[], m.hashed_id, m.project_id,
                                  m.project_hashed_id, m.project_name) = 'unknown_project', true) AS may_post
FROM converted_views AS v
LEFT JOIN settled AS s ON s.event_key = v.event_key
LEFT JOIN wistia_medias AS m ON m.hashed_id = v.media_id
WHERE v.day BETWEEN $1 AND $2 AND v.email_lower <> '';
