-- Company domains ($1..$2 = days) whose views found no exact contact: one lookup each.
-- The personal-domain rule (Python) runs once per distinct domain, not once per view.
WITH unmatched AS MATERIALIZED (
    SELECT DISTINCT v.email_domain
    FROM converted_views AS v
    WHERE v.day BETWEEN $1 AND $2
      AND v.email_domain <> ''
      AND NOT EXISTS (
            SELECT 1 FROM _upsales_contacts AS c
            WHERE c.email_lower = v.email_lower AND c.active = 1 AND c.client_id IS NOT NULL)
)
SELECT email_domain
FROM unmatched
WHERE NOT is_personal_domain(email_domain)
ORDER BY 1;
