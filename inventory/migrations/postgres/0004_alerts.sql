-- The alert book (kept in step with the other backend's 0004_alerts.sql): the current
-- state of every alert (one firing of one rule instance, from the `alerts` topic), its
-- timeline, the notification outbox (one row per alert transition and receiver, sent
-- once and retried with backoff), every delivery attempt, and silences.
CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    rule TEXT NOT NULL,
    state TEXT NOT NULL,
    severity TEXT NOT NULL,
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL,
    value DOUBLE PRECISION,
    message TEXT NOT NULL,
    receivers TEXT NOT NULL,
    group_key TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    updated_at BIGINT NOT NULL,
    acked_by TEXT,
    ack_comment TEXT,
    ack_until BIGINT,
    escalated BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX alerts_state ON alerts (state, started_at);
CREATE INDEX alerts_rule ON alerts (rule, started_at);
CREATE TABLE alert_transitions (
    id BIGSERIAL PRIMARY KEY,
    alert_id TEXT NOT NULL,
    time BIGINT NOT NULL,
    state TEXT NOT NULL,
    actor TEXT NOT NULL,
    comment TEXT,
    UNIQUE (alert_id, state, time)
);
CREATE TABLE notifications (
    id BIGSERIAL PRIMARY KEY,
    alert_id TEXT NOT NULL,
    transition TEXT NOT NULL,
    payload_status TEXT NOT NULL,
    receiver TEXT NOT NULL,
    group_key TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    sent_at BIGINT,
    last_error TEXT,
    suppressed_by TEXT,
    UNIQUE (alert_id, transition, receiver)
);
CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
CREATE TABLE notification_attempts (
    id BIGSERIAL PRIMARY KEY,
    notification_id BIGINT NOT NULL,
    time BIGINT NOT NULL,
    ok BIGINT NOT NULL,
    error TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX notification_attempts_of ON notification_attempts (notification_id);
CREATE TABLE silences (
    id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    comment TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
