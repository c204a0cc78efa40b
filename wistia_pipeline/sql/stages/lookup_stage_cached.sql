-- Stage the contacts matching may use for some days from the kept answers. An email's answer
-- serves exact matches whatever its age (an email with a view that may still be posted was asked
-- again this run when its answer was old; an old answer only explains views that will not be
-- posted), and counts toward its domain's accounts only while fresh. A domain's answer counts
-- toward the domain's accounts (asked again when old under the same rule) and serves exact
-- matches only while fresh: an old answer never makes a view about to be posted match a contact.
-- Parameters:
--   $first: the first day
--   $last: the last day
--   $fresh_since: the oldest look-up still fresh (now - CONTACT_REFRESH_MINUTES)
DELETE FROM _upsales_contacts;

INSERT INTO _upsales_contacts (id, email_lower, email_domain, name, active, mod_date, client_id, client_name,
                               exact_ok, domain_ok)
SELECT c.id, c.email_lower, c.email_domain, c.name, c.active, c.mod_date, c.client_id, c.client_name,
       true, k.looked_up_at >= $fresh_since
FROM upsales_lookups AS k
JOIN upsales_lookup_contacts AS c ON c.kind = k.kind AND c.asked = k.asked
WHERE k.kind = 'email'
  AND k.asked IN (SELECT email_lower FROM converted_views WHERE day BETWEEN $first AND $last)
UNION ALL
SELECT c.id, c.email_lower, c.email_domain, c.name, c.active, c.mod_date, c.client_id, c.client_name,
       k.looked_up_at >= $fresh_since, true
FROM upsales_lookups AS k
JOIN upsales_lookup_contacts AS c ON c.kind = k.kind AND c.asked = k.asked
WHERE k.kind = 'domain'
  AND k.asked IN (SELECT email_domain FROM converted_views WHERE day BETWEEN $first AND $last);
