-- The emails of days $1..$2 to look up in Upsales this run ($3 = the oldest look-up still fresh,
-- i.e. now - CONTACT_REFRESH_MINUTES; $4, $5 = MIN_PERCENT_WATCHED and the project filter; $6 = the destinations taking matched views): an
-- email asked never before (its views' reasons follow product.md's order, so even a view that
-- will be filtered out learns whether it matched), or one whose answer is older than $3 and that
-- has a view an answer could still bring to a post: not in the ledger as posted or rejected, and
-- passing the filters (filter_reason, schema.sql; a media missing from wistia_medias or without a
-- project counts as passing, as that table may predate the media). Every other email keeps its
-- answer, however old: no view is posted from it.
CREATE OR REPLACE TEMP TABLE _emails_to_ask AS
WITH settled AS (  -- posted or rejected in every destination taking matched views ($6)
    SELECT event_key FROM synced_ledger
    WHERE list_contains($6::VARCHAR[], destination) AND status IN ('posted', 'rejected')
    GROUP BY event_key HAVING count(*) = len($6::VARCHAR[])
), emails AS (
    SELECT v.email_lower,
           bool_or(s.event_key IS NULL
                   AND coalesce(filter_reason(v.percent_viewed, $4, $5::VARCHAR[], m.hashed_id, m.project_id,
                                              m.project_hashed_id, m.project_name) = 'unknown_project', true))
               AS may_post
    FROM converted_views AS v
    LEFT JOIN settled AS s ON s.event_key = v.event_key
    LEFT JOIN wistia_medias AS m ON m.hashed_id = v.media_id
    WHERE v.day BETWEEN $1 AND $2 AND v.email_lower <> ''
    GROUP BY v.email_lower
)
SELECT e.email_lower AS asked
FROM emails AS e
LEFT JOIN upsales_lookups AS k ON k.kind = 'email' AND k.asked = e.email_lower
WHERE k.asked IS NULL OR (e.may_post AND k.looked_up_at < $3)
ORDER BY 1;
