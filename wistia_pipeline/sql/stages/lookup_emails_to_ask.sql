-- The emails to look up in Upsales this run, of the views in _lookup_views (lookup_views.sql): an
-- email asked never before (its views' reasons follow product.md's order, so even a view that
-- will be filtered out learns whether it matched), or one whose answer is older than $fresh_since
-- and that has a view an answer could still bring to a post. Every other email keeps its answer,
-- however old: no view is posted from it.
-- Parameters:
--   $fresh_since: the oldest look-up still fresh (now - CONTACT_REFRESH_MINUTES)
CREATE OR REPLACE TEMP TABLE _emails_to_ask AS
WITH emails AS (
    SELECT email_lower, bool_or(may_post) AS may_post
    FROM _lookup_views
    GROUP BY email_lower
)
SELECT e.email_lower AS asked
FROM emails AS e
LEFT JOIN upsales_lookups AS k ON k.kind = 'email' AND k.asked = e.email_lower
WHERE k.asked IS NULL OR (e.may_post AND k.looked_up_at < $fresh_since)
ORDER BY 1;
