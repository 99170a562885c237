-- llmpulse schema v1. Placeholders: {db} (database), {ttl_days} (retention).
-- Every table is keyed by event identity (ReplacingMergeTree) and accepts an
-- insert_deduplication_token, so a replay after a crash never double counts.
-- Read exact totals with FINAL.

CREATE TABLE IF NOT EXISTS {db}.llm_calls
(
    trace_id              String,
    span_id               String,
    parent_span_id        String,
    transaction_id        String,
    start_time            DateTime64(6, 'UTC'),
    end_time              DateTime64(6, 'UTC'),
    service_name          LowCardinality(String),
    environment           LowCardinality(String),
    team                  LowCardinality(String),
    feature               LowCardinality(String),
    risk_tier             LowCardinality(String),
    provider              LowCardinality(String),
    operation             LowCardinality(String),
    request_model         LowCardinality(String),
    response_model        LowCardinality(String),
    input_tokens          UInt64,
    output_tokens         UInt64,
    cache_read_tokens     UInt64,
    cache_creation_tokens UInt64,
    reasoning_tokens      UInt64,
    latency_ms            Float64,
    ttft_ms               Nullable(Float64),
    status                LowCardinality(String),
    error_type            LowCardinality(String),
    retry_attempt         UInt16,
    finish_reasons        Array(LowCardinality(String)),
    cost_pico             Int64,
    price_status          LowCardinality(String),
    price_version         LowCardinality(String),
    convention            LowCardinality(String),
    source_partition      Int32,
    source_offset         Int64,
    ingested_at           DateTime64(3, 'UTC') DEFAULT now64(3),
    cost_usd              Decimal(38, 12) MATERIALIZED toDecimal128(cost_pico, 12) / 1000000000000
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(start_time)
ORDER BY (service_name, request_model, trace_id, span_id)
TTL toDateTime(start_time) + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.dead_letters
(
    source_topic      LowCardinality(String),
    source_partition  Int32,
    source_offset     Int64,
    span_index        Int32,
    stage             LowCardinality(String),
    reason            LowCardinality(String),
    detail            String,
    trace_id          String,
    span_id           String,
    service_name      LowCardinality(String),
    payload           String,
    payload_size      UInt64,
    rejected_at       DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(rejected_at)
PARTITION BY toYYYYMM(rejected_at)
ORDER BY (source_topic, source_partition, source_offset, span_index)
TTL toDateTime(rejected_at) + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.ingest_batches
(
    source_topic      LowCardinality(String),
    source_partition  Int32,
    source_offset     Int64,
    message_bytes     UInt64,
    spans             UInt32,
    llm_spans         UInt32,
    non_llm_spans     UInt32,
    rejected          UInt32,
    unpriced          UInt32,
    ingested_at       DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(ingested_at)
ORDER BY (source_topic, source_partition, source_offset)
TTL toDateTime(ingested_at) + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;
