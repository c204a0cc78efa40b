-- Whether an email is on the suppression list, and since when (no row: it is not).
-- Parameters:
--   $email_sha256: email_sha256() of the email
SELECT added_at FROM suppressed_emails WHERE email_sha256 = $email_sha256;
