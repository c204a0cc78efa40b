-- Drop retention_mark's temp tables (retention_scrub uses them; a run with nothing to remove does not).
DROP TABLE IF EXISTS _retention_lookups;
DROP TABLE IF EXISTS _retention_emails;
DROP TABLE IF EXISTS _retention_held;
