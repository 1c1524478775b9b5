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

-- Notification policies travel with each alert (from its rule, on the `alerts` topic),
-- so rules managed through the API and the configuration's are notified alike.
ALTER TABLE alerts ADD COLUMN repeat_interval_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN repeated_at BIGINT;
ALTER TABLE alerts ADD COLUMN escalate_after_ms BIGINT;
ALTER TABLE alerts ADD COLUMN escalate_to TEXT NOT NULL DEFAULT '[]';
CREATE INDEX notifications_group ON notifications (receiver, group_key, sent_at);
