-- Company domains ($1..$2 = days) whose views found no exact contact: one lookup each.
SELECT DISTINCT v.email_domain
FROM converted_views AS v
WHERE v.day BETWEEN $1 AND $2
  AND v.email_domain <> ''
  AND NOT is_personal_domain(v.email_domain)
  AND NOT EXISTS (
        SELECT 1 FROM _upsales_contacts AS c
        WHERE c.email_lower = v.email_lower AND c.active = 1 AND c.client_id IS NOT NULL)
ORDER BY 1;
