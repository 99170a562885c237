-- llmpulse schema v4: the finance report ledger. One row per (day, channel) once
-- delivered, so a report is sent once per day even across restarts.

CREATE TABLE IF NOT EXISTS {db}.report_history
(
    day         Date,
    channel     LowCardinality(String),
    status      LowCardinality(String),
    total_usd   Decimal(38, 12),
    detail      String,
    sent_at     DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(sent_at)
ORDER BY (day, channel);
