-- How many rows of each table `forget` erases (forget_targets.sql found them), and whether the
-- email is new to the suppression list.
-- Parameters: none (it reads the temp tables of forget_targets.sql)
SELECT table_name, count(*) AS rows_erased
FROM _forget_rows
GROUP BY table_name
UNION ALL
SELECT 'suppressed_emails', count(*)
FROM _forget
WHERE email_sha256 NOT IN (SELECT email_sha256 FROM suppressed_emails)
ORDER BY table_name;
