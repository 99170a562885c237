-- llmpulse schema v10: tool, agent, workflow and task spans of GenAI apps. They are
-- not model calls (counted in ingest_batches.non_llm_spans); kept for the transaction
-- view: which tools and agents a transaction ran, how long each took, which failed.
CREATE TABLE IF NOT EXISTS {db}.agent_spans
(
    trace_id          String,
    span_id           String,
    parent_span_id    String,
    transaction_id    String,
    start_time        DateTime64(6, 'UTC'),
    end_time          DateTime64(6, 'UTC'),
    service_name      LowCardinality(String),
    operation         LowCardinality(String),
    name              LowCardinality(String),
    duration_ms       Float64,
    status            LowCardinality(String),
    source_partition  Int32,
    source_offset     Int64,
    ingested_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(start_time)
ORDER BY (service_name, transaction_id, trace_id, span_id)
TTL toDateTime(start_time) + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;
