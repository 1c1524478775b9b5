-- Alert rules managed through the API (kept in step with the other backend's
-- 0005_alert_rules.sql). `body` is the rule as JSON, with the fields of the
-- configuration's [[alert_rules]]; the name is its id. The streaming stage reads this
-- table and runs these rules beside the configuration's.
CREATE TABLE alert_rules (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
