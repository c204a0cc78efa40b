-- When the personal data of some days was first removed by retention (NULL: not yet).
-- Parameters:
--   $days: the days asked about (a list of DATEs)
SELECT d.day, min(r.applied_at) AS removed_on
FROM (SELECT unnest($days::DATE[]) AS day) AS d
LEFT JOIN retention_runs AS r ON r.cutoff > d.day
GROUP BY d.day;
