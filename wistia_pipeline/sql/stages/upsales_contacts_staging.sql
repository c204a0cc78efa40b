-- The working tables of the contact look-ups (matched_views): the contacts of this run's answers,
-- filled page by page by upsales_contacts_load.sql, with which matches each may serve
-- (lookup_stage_cached.sql), and what one look-up asked (lookup_save.sql).
CREATE OR REPLACE TEMP TABLE _upsales_contacts (
    id BIGINT, email_lower VARCHAR, email_domain VARCHAR, name VARCHAR, active INTEGER,
    mod_date TIMESTAMP, client_id BIGINT, client_name VARCHAR,
    exact_ok BOOLEAN, domain_ok BOOLEAN);

CREATE OR REPLACE TEMP TABLE _asked (asked VARCHAR);
