-- llmpulse schema v2: analytics. Every table here is RECOMPUTED from llm_calls
-- FINAL for the minutes / transactions that changed, and replaced by key
-- (ReplacingMergeTree on computed_at), so replays and late calls never double
-- count: the stored value is the latest computation. Read with FINAL.

CREATE TABLE IF NOT EXISTS {db}.latency_1m
(
    minute          DateTime('UTC'),
    service_name    LowCardinality(String),
    provider        LowCardinality(String),
    operation       LowCardinality(String),
    request_model   LowCardinality(String),
    response_model  LowCardinality(String),
    calls           UInt64,
    errors          UInt64,
    over_5s         UInt64,
    latency_sum     Float64,
    latency_max     Float64,
    latency_keys    Array(Int32),
    latency_counts  Array(UInt64),
    ttft_calls      UInt64,
    ttft_max        Float64,
    ttft_keys       Array(Int32),
    ttft_counts     Array(UInt64),
    computed_at     DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, service_name, provider, operation, request_model, response_model)
TTL minute + INTERVAL {ttl_days} DAY;

CREATE TABLE IF NOT EXISTS {db}.cost_1m
(
    minute                 DateTime('UTC'),
    service_name           LowCardinality(String),
    environment            LowCardinality(String),
    team                   LowCardinality(String),
    feature                LowCardinality(String),
    risk_tier              LowCardinality(String),
    provider               LowCardinality(String),
    request_model          LowCardinality(String),
    calls                  UInt64,
    errors                 UInt64,
    retries                UInt64,
    truncated              UInt64,
    unpriced               UInt64,
    input_tokens           UInt64,
    output_tokens          UInt64,
    cache_read_tokens      UInt64,
    cache_creation_tokens  UInt64,
    reasoning_tokens       UInt64,
    cost_usd               Decimal(38, 12),
    retry_waste_usd        Decimal(38, 12),
    computed_at            DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, service_name, environment, team, feature, risk_tier, provider, request_model)
TTL minute + INTERVAL {ttl_days} DAY;

CREATE TABLE IF NOT EXISTS {db}.transaction_costs
(
    transaction_id         String,
    first_seen             DateTime64(6, 'UTC'),
    last_seen              DateTime64(6, 'UTC'),
    service_name           LowCardinality(String),
    team                   LowCardinality(String),
    feature                LowCardinality(String),
    risk_tier              LowCardinality(String),
    services               Array(String),
    models                 Array(String),
    calls                  UInt64,
    retries                UInt64,
    errors                 UInt64,
    input_tokens           UInt64,
    output_tokens          UInt64,
    cache_read_tokens      UInt64,
    cache_creation_tokens  UInt64,
    reasoning_tokens       UInt64,
    cost_usd               Decimal(38, 12),
    retry_waste_usd        Decimal(38, 12),
    computed_at            DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(computed_at)
ORDER BY transaction_id
TTL toDateTime(last_seen) + INTERVAL {ttl_days} DAY;

CREATE TABLE IF NOT EXISTS {db}.drift_events
(
    minute          DateTime('UTC'),
    service_name    LowCardinality(String),
    model           LowCardinality(String),
    metric          LowCardinality(String),
    kind            LowCardinality(String),
    detector        LowCardinality(String),
    before_value    Float64,
    after_value     Float64,
    change_pct      Float64,
    detail          String,
    detected_at     DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(detected_at)
PARTITION BY toYYYYMM(minute)
ORDER BY (service_name, model, metric, minute)
TTL minute + INTERVAL {ttl_days} DAY;

CREATE TABLE IF NOT EXISTS {db}.analytics_state
(
    job         LowCardinality(String),
    key         String,
    state       String,
    updated_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (job, key);
