-- llmpulse schema v6: the worker's consumer lag, sampled every few seconds.

CREATE TABLE IF NOT EXISTS {db}.consumer_lag
(
    ts          DateTime64(3, 'UTC'),
    topic       LowCardinality(String),
    group_id    LowCardinality(String),
    partition   Int32,
    committed   Int64,
    end_offset  Int64,
    lag         Int64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (topic, group_id, partition, ts)
TTL toDateTime(ts) + INTERVAL {ttl_days} DAY;
