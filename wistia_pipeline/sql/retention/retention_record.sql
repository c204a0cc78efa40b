-- Record what one run's retention removed (tables where it removed something), so that `explain`
-- can say when a day's personal data was removed and `doctor` or a reader can see it was applied.
-- Parameters:
--   $run_id: the run that applied it
--   $cutoff: the first day kept
--   $retention_days: RETENTION_DAYS of that run
--   $tables: the tables' names (a list, in the order of $rows)
--   $rows: rows changed per table (a list)
INSERT INTO retention_runs
SELECT $run_id, now() AT TIME ZONE 'UTC', $cutoff, $retention_days, t.table_name, t.rows
FROM (SELECT unnest($tables::VARCHAR[]) AS table_name, unnest($rows::BIGINT[]) AS rows) AS t
WHERE t.rows > 0;
