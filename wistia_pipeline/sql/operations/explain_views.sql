-- Every view of one event_key or of one email (the Turnstile email or the viewer's email),
-- newest first, with its recorded outcome per destination and the detail the stopping stage
-- recorded (the email, the domain, the percent, the project).
-- Parameters:
--   $event_key: the event_key asked about
--   $email: the email asked about, trimmed and lower-cased
WITH views AS (
    SELECT day, event_key, received_at, media_id, media_name, percent_viewed,
           viewer_email(conversion_email, email) AS email
    FROM wistia_events
    WHERE event_key = $event_key
       OR lower(strip_ws(conversion_email)) = $email
       OR lower(strip_ws(email)) = $email
)
SELECT v.*, o.destination, o.outcome, o.reason, o.stage, o.upsales_id, o.run_id, r.detail
FROM views AS v
LEFT JOIN view_outcomes AS o ON o.day = v.day AND o.event_key = v.event_key
LEFT JOIN view_rejections AS r
       ON r.day = o.day AND r.event_key = o.event_key AND r.stage = o.stage AND r.reason = o.reason
      AND r.destination IN ('*', o.destination)
ORDER BY v.received_at DESC NULLS LAST, v.event_key, o.destination;
