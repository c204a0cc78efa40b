-- Every table the pipeline keeps. Stage tables are partitioned by `day` (UTC day of the view,
-- a DATE so that deleting a day's rows matches exactly); the ledger is only ever added to.

CREATE TABLE IF NOT EXISTS wistia_events (
    day                DATE NOT NULL,      -- the UTC day Wistia was asked for
    event_key          VARCHAR NOT NULL,   -- 'missing-key:<hash>' when Wistia sent none (never posted)
    received_at        TIMESTAMP,          -- UTC; NULL when Wistia's value cannot be parsed
    visitor_key        VARCHAR,
    email              VARCHAR,
    percent_viewed     DOUBLE,             -- fraction 0..1; NULL when not a number
    conversion_type    VARCHAR,
    conversion_email   VARCHAR,
    first_name         VARCHAR,
    last_name          VARCHAR,
    media_id           VARCHAR,
    media_name         VARCHAR,
    iframe_heatmap_url VARCHAR,
    input_problem      VARCHAR,            -- suppressed | missing_event_key | invalid_received_at | invalid_percent_viewed
    raw                JSON,               -- the event exactly as Wistia sent it; NULL past RETENTION_DAYS
    loaded_at          TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS converted_views (
    day            DATE NOT NULL,
    event_key      VARCHAR NOT NULL,
    received_at    TIMESTAMP,
    email          VARCHAR,                -- as entered, trimmed (what forms submit); NULL past RETENTION_DAYS
    email_lower    VARCHAR,                -- what matching compares; NULL past RETENTION_DAYS
    email_domain   VARCHAR NOT NULL,
    first_name     VARCHAR,
    last_name      VARCHAR,
    percent_viewed DOUBLE,
    media_id       VARCHAR,
    media_name     VARCHAR,
    heatmap_url    VARCHAR
);

CREATE TABLE IF NOT EXISTS matched_views (
    day            DATE NOT NULL,
    event_key      VARCHAR NOT NULL,
    received_at    TIMESTAMP,
    email          VARCHAR,                -- NULL past RETENTION_DAYS
    percent_viewed DOUBLE,
    media_id       VARCHAR,
    media_name     VARCHAR,
    heatmap_url    VARCHAR,
    match_type     VARCHAR NOT NULL,       -- 'contact' (exact email) or 'account' (same domain)
    contact_id     BIGINT,                 -- NULL for an anonymous, account-only match
    contact_name   VARCHAR,
    client_id      BIGINT NOT NULL,
    client_name    VARCHAR
);

CREATE TABLE IF NOT EXISTS filtered_views (
    day               DATE NOT NULL,
    destination       VARCHAR NOT NULL,    -- a registered destination (sinks/registry.py)
    event_key         VARCHAR NOT NULL,
    received_at       TIMESTAMP,
    email             VARCHAR,             -- NULL past RETENTION_DAYS
    first_name        VARCHAR,
    last_name         VARCHAR,
    percent_viewed    DOUBLE,
    media_id          VARCHAR,
    media_name        VARCHAR,
    project_id        BIGINT,
    project_hashed_id VARCHAR,
    project_name      VARCHAR,
    heatmap_url       VARCHAR,
    match_type        VARCHAR,
    contact_id        BIGINT,
    contact_name      VARCHAR,
    client_id         BIGINT
);

-- Why a view stopped at a stage. destination '*' = before the branches split.
CREATE TABLE IF NOT EXISTS view_rejections (
    day         DATE NOT NULL,
    event_key   VARCHAR NOT NULL,
    destination VARCHAR NOT NULL,
    stage       VARCHAR NOT NULL,
    reason      VARCHAR NOT NULL,
    detail      VARCHAR
);

-- One row per (destination, event_key) queued or sent. 'pending' is a qualifying view not yet in
-- Upsales (queued by the run that first saw it, or re-offered), 'in_flight' is written before the
-- post and becomes 'posted' (with the Upsales id) after it; 'rejected' is a 4xx refusal of this
-- view while Upsales accepted others. Every run settles every pending and in-flight row, whatever
-- its day.
CREATE TABLE IF NOT EXISTS synced_ledger (
    destination  VARCHAR NOT NULL,
    event_key    VARCHAR NOT NULL,
    day          DATE NOT NULL,
    status       VARCHAR NOT NULL,
    upsales_id   VARCHAR,
    external_id  VARCHAR,
    client_id    BIGINT,
    contact_id   BIGINT,
    score        INTEGER,
    value        VARCHAR,
    form_id      BIGINT,                   -- forms: the Upsales form the view was submitted to
    form_name    VARCHAR,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   VARCHAR,
    first_seen_at TIMESTAMP NOT NULL,
    posted_at    TIMESTAMP,
    run_id       VARCHAR,
    lookup_first BOOLEAN DEFAULT false,    -- look it up in Upsales before posting (queued with no ledger, re-offered)
    notified     BOOLEAN,                  -- activities: the entry carried notify (account managers notified)
    PRIMARY KEY (destination, event_key)
);
-- Files written by the first release lack the column.
ALTER TABLE synced_ledger ADD COLUMN IF NOT EXISTS lookup_first BOOLEAN DEFAULT false;
-- Files written before ACTIVITY_NOTIFY lack it (their rows: NULL, nothing was notified).
ALTER TABLE synced_ledger ADD COLUMN IF NOT EXISTS notified BOOLEAN;

-- Every failed attempt and every re-offer of a ledger row: when, by which run, what happened and
-- what Upsales said. The ledger row keeps only the latest state; this keeps the history.
CREATE TABLE IF NOT EXISTS ledger_attempts (
    destination  VARCHAR NOT NULL,
    event_key    VARCHAR NOT NULL,
    attempted_at TIMESTAMP NOT NULL,
    run_id       VARCHAR,
    outcome      VARCHAR NOT NULL,         -- unconfirmed | refused | rejected | retry_requested
    error        VARCHAR
);

-- The outcome of every view for every enabled destination, as of the last run over its day.
CREATE TABLE IF NOT EXISTS view_outcomes (
    day         DATE NOT NULL,
    event_key   VARCHAR NOT NULL,
    destination VARCHAR NOT NULL,
    outcome     VARCHAR NOT NULL,          -- synced | already_synced | skipped | failed
    reason      VARCHAR,                   -- the stage's reason when skipped or failed
    stage       VARCHAR,
    upsales_id  VARCHAR,
    email       VARCHAR,
    media_name  VARCHAR,
    percent_viewed DOUBLE,
    run_id      VARCHAR,
    decided_at  TIMESTAMP NOT NULL
);

-- What retention (RETENTION_DAYS) removed: one row per run and table where it removed something.
-- `explain` reads when a day's personal data was removed from it.
CREATE TABLE IF NOT EXISTS retention_runs (
    run_id         VARCHAR,
    applied_at     TIMESTAMP NOT NULL,     -- UTC
    cutoff         DATE NOT NULL,          -- the first day kept: every day before it was scrubbed
    retention_days INTEGER NOT NULL,
    table_name     VARCHAR NOT NULL,
    rows           BIGINT NOT NULL
);

-- Upsales forms this pipeline submits to, by name (found again in Upsales before any create).
CREATE TABLE IF NOT EXISTS upsales_forms (
    name        VARCHAR PRIMARY KEY,
    policy      VARCHAR NOT NULL,
    form_id     BIGINT NOT NULL,
    form_uuid   VARCHAR NOT NULL,
    created     BOOLEAN NOT NULL,          -- created by this pipeline (here, or found with its description): its score is ours to set
    recorded_at TIMESTAMP NOT NULL,
    score       INTEGER                    -- the form's lead score as the pipeline last set (or, not ours, saw) it; NULL: unknown
);
-- Files written before FORM_SCORE lack it: their forms' scores are unknown (NULL), so the
-- pipeline's own forms get FORM_SCORE before their next submission.
ALTER TABLE upsales_forms ADD COLUMN IF NOT EXISTS score INTEGER;

-- Wistia medias with their project: the asset wistia_medias (stages/medias.py), refreshed whole
-- when a setting reads the projects (the project filter, FORM_POLICY=project).
CREATE TABLE IF NOT EXISTS wistia_medias (
    hashed_id         VARCHAR PRIMARY KEY,
    name              VARCHAR,
    project_id        BIGINT,
    project_hashed_id VARCHAR,
    project_name      VARCHAR,
    fetched_at        TIMESTAMP NOT NULL
);

-- Upsales contact look-ups, kept across runs and processes (issue #13): what was asked (kind
-- 'email': a lower-cased email; 'domain': a company domain) and when. A view whose outcome can
-- still change is looked up again once its entry is older than CONTACT_REFRESH_MINUTES; a view
-- already posted or rejected is not looked up again at all.
CREATE TABLE IF NOT EXISTS upsales_lookups (
    kind         VARCHAR NOT NULL,         -- 'email' | 'domain'
    asked        VARCHAR NOT NULL,
    looked_up_at TIMESTAMP NOT NULL,       -- UTC
    contacts     INTEGER NOT NULL,         -- how many contacts the answer held (0: none)
    PRIMARY KEY (kind, asked)
);

-- The answer of each look-up: the contacts found, with the columns matching needs.
CREATE TABLE IF NOT EXISTS upsales_lookup_contacts (
    kind         VARCHAR NOT NULL,
    asked        VARCHAR NOT NULL,
    id           BIGINT,
    email_lower  VARCHAR,
    email_domain VARCHAR,
    name         VARCHAR,
    active       INTEGER,
    mod_date     TIMESTAMP,
    client_id    BIGINT,
    client_name  VARCHAR
);

-- API calls per run, step, API and endpoint (`GET /v2/contacts`, ids and query left out), so that
-- `doctor` can project the daily Upsales calls from the last runs.
CREATE TABLE IF NOT EXISTS run_calls (
    run_id   VARCHAR NOT NULL,
    step     VARCHAR NOT NULL,
    recorded_at TIMESTAMP NOT NULL,        -- UTC, when the step recorded them
    api      VARCHAR NOT NULL,             -- 'upsales' | 'wistia'
    endpoint VARCHAR NOT NULL,
    calls    INTEGER NOT NULL
);

-- Erased viewers (`wistia-pipeline forget`, the job forget_viewer): the sha256 of the normalised
-- email (the macro email_sha256), never the email. Events of these emails are kept without their
-- email and raw JSON when Wistia sends them again, and stop with reason `suppressed`.
CREATE TABLE IF NOT EXISTS suppressed_emails (
    email_sha256 VARCHAR PRIMARY KEY,
    added_at     TIMESTAMP NOT NULL        -- UTC
);

-- Trim all surrounding white space (DuckDB's trim() only removes spaces).
CREATE OR REPLACE TEMP MACRO strip_ws(text) AS regexp_replace(text, '^[\s\x{00A0}\x{FEFF}]+|[\s\x{00A0}\x{FEFF}]+$', '', 'g');

-- The viewer's email, the one definition every stage, outcome and explain uses: the Turnstile's
-- conversion_data.email when it is not blank, else the event's email; white space stripped.
CREATE OR REPLACE TEMP MACRO viewer_email(conversion_email, email) AS
    strip_ws(coalesce(nullif(strip_ws(conversion_email), ''), email));

-- The key of the suppression list: sha256 of the email trimmed and lower-cased (matching's form).
CREATE OR REPLACE TEMP MACRO email_sha256(e) AS sha256(lower(strip_ws(e)));

-- What is kept of the raw JSON of an erased or suppressed viewer's event: its key, no personal data.
CREATE OR REPLACE TEMP MACRO erased_raw(event_key) AS json_object('event_key', event_key, 'erased', true);

-- The email of a converted view (the rule of docs/api/wistia.md): conversion_data.email when not
-- blank, or the event's email when conversion_type is set; NULL when the view is not converted.
CREATE OR REPLACE TEMP MACRO turnstile_email(conversion_email, email, conversion_type) AS
    CASE WHEN nullif(strip_ws(conversion_email), '') IS NOT NULL OR conversion_type <> ''
         THEN nullif(viewer_email(conversion_email, email), '') END;

-- The filtered stage's rule, in its order (product.md, stage 4), for one view: NULL when it
-- passes, else below_min_percent, unknown_project or project_not_enabled. `projects` is the
-- project filter (hashed ids, numeric ids or exact names; empty = every project); the m_* are the
-- view's row of wistia_medias (all NULL when the media is not in it). filtered_views.sql decides
-- with it; the contact look-ups use it to skip views no answer could bring to a post.
CREATE OR REPLACE TEMP MACRO filter_reason(percent_viewed, min_percent, projects, m_hashed_id, m_project_id,
                                           m_project_hashed_id, m_project_name) AS
    CASE WHEN coalesce(percent_viewed, 0) * 100 < min_percent - 1e-9 THEN 'below_min_percent'
         WHEN len(projects) = 0 THEN NULL
         WHEN m_hashed_id IS NULL OR (m_project_hashed_id IS NULL AND m_project_id IS NULL
                                      AND m_project_name IS NULL) THEN 'unknown_project'
         WHEN list_contains(projects, m_project_hashed_id)
           OR list_contains(projects, CAST(m_project_id AS VARCHAR))
           OR list_contains(projects, m_project_name) THEN NULL
         ELSE 'project_not_enabled' END;
