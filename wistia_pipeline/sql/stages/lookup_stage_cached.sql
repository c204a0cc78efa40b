-- Stage the contacts matching may use for days $1..$2 from the kept answers ($3 = the oldest
-- look-up still fresh). An email's answer serves exact matches whatever its age (an email with a
-- view that may still be posted was asked again this run when its answer was old; an old answer
-- only explains views that will not be posted), and counts toward its domain's accounts only
-- while fresh. A domain's answer counts toward the domain's accounts (asked again when old under
-- the same rule) and serves exact matches only while fresh: an old answer never makes a view
-- about to be posted match a contact.
DELETE FROM _upsales_contacts;

INSERT INTO _upsales_contacts (id, email_lower, email_domain, name, active, mod_date, client_id, client_name,
                               exact_ok, domain_ok)
SELECT c.id, c.email_lower, c.email_domain, c.name, c.active, c.mod_date, c.client_id, c.client_name,
       true, k.looked_up_at >= $3
FROM upsales_lookups AS k
JOIN upsales_lookup_contacts AS c ON c.kind = k.kind AND c.asked = k.asked
WHERE k.kind = 'email'
  AND k.asked IN (SELECT email_lower FROM converted_views WHERE day BETWEEN $1 AND $2)
UNION ALL
SELECT c.id, c.email_lower, c.email_domain, c.name, c.active, c.mod_date, c.client_id, c.client_name,
       k.looked_up_at >= $3, true
FROM upsales_lookups AS k
JOIN upsales_lookup_contacts AS c ON c.kind = k.kind AND c.asked = k.asked
WHERE k.kind = 'domain'
  AND k.asked IN (SELECT email_domain FROM converted_views WHERE day BETWEEN $1 AND $2);
