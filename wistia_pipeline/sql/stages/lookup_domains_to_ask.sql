-- The company domains to look up this run, once the email answers are staged in _upsales_contacts:
-- the domains of the views in _lookup_views with no exact contact (personal domains never), asked
-- never before, or with such a view an answer could still bring to a post and an answer older
-- than $fresh_since (the same rule as lookup_emails_to_ask.sql). The personal-domain rule (Python)
-- runs once per distinct domain, not once per view.
-- Parameters:
--   $fresh_since: the oldest look-up still fresh (now - CONTACT_REFRESH_MINUTES)
CREATE OR REPLACE TEMP TABLE _domains_to_ask AS
WITH unmatched AS MATERIALIZED (
    SELECT v.email_domain, bool_or(v.may_post) AS may_post
    FROM _lookup_views AS v
    WHERE v.email_domain <> ''
      AND NOT EXISTS (
            SELECT 1 FROM _upsales_contacts AS c
            WHERE c.email_lower = v.email_lower AND c.active = 1 AND c.client_id IS NOT NULL
              AND c.exact_ok IS NOT false)
    GROUP BY v.email_domain
)
SELECT u.email_domain AS asked
FROM unmatched AS u
LEFT JOIN upsales_lookups AS k ON k.kind = 'domain' AND k.asked = u.email_domain
WHERE NOT is_personal_domain(u.email_domain)
  AND (k.asked IS NULL OR (u.may_post AND k.looked_up_at < $fresh_since))
ORDER BY 1;
