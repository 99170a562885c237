//! The llm_calls columns, written as one ClickHouse `Native` format block.
//!
//! Column names and order are those of `schemas.record.CallRecord` (a Python
//! test reads a block back and compares). Dimension columns are sent as
//! `String` and converted to the table's `LowCardinality(String)` by ClickHouse.

/// One accepted call, borrowed from the message it came from.
pub struct Row<'a> {
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub parent_span_id: &'a [u8],
    pub transaction_id: Text<'a>,
    pub start_us: i64,
    pub end_us: i64,
    pub dims: [&'a str; 5], // service_name, environment, team, feature, risk_tier
    pub provider: &'a str,
    pub operation: &'a str,
    pub request_model: &'a str,
    pub response_model: &'a str,
    pub tokens: [u64; 5],
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub error: bool,
    pub error_type: &'a str,
    pub retry_attempt: u16,
    pub finish_reasons: Vec<&'a str>,
    pub cost_pico: i64,
    pub priced: Option<&'a str>, // the price version, None when the model is unknown
    pub convention: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub savings_pico: i64,
    pub response_id: &'a str,
}

// The status and price_status labels; `contract()` exports them and
// `fastpath.check_contract` compares them with a probe of the Python path.
pub const STATUS_OK: &str = "ok";
pub const STATUS_FAILED: &str = "error";
pub const PRICE_OK: &str = "ok";
pub const PRICE_UNKNOWN: &str = "unknown_model";
/// `input_basis` of every row of this path (derived inputs are Python's).
pub const INPUT_REPORTED: &str = "reported";

/// A text column value: given, or the trace id (hex) for a missing transaction id.
pub enum Text<'a> {
    Given(&'a str),
    TraceHex,
}

const STRINGS: usize = 21;
const S_TRACE: usize = 0;
const S_SPAN: usize = 1;
const S_PARENT: usize = 2;
const S_TX: usize = 3;
const S_DIMS: usize = 4; // 4..9
const S_PROVIDER: usize = 9;
const S_OPERATION: usize = 10;
const S_REQUEST: usize = 11;
const S_RESPONSE: usize = 12;
const S_STATUS: usize = 13;
const S_ERROR_TYPE: usize = 14;
const S_PRICE_STATUS: usize = 15;
const S_PRICE_VERSION: usize = 16;
const S_CONVENTION: usize = 17;
const S_FINISH: usize = 18; // nested strings of the array column
const S_RESPONSE_ID: usize = 19;
const S_INPUT_BASIS: usize = 20;

const FIXED: usize = 14;
const F_START: usize = 0;
const F_END: usize = 1;
const F_TOKENS: usize = 2; // 2..7
const F_LATENCY: usize = 7;
const F_TTFT: usize = 8;
const F_RETRY: usize = 9;
const F_COST: usize = 10;
const F_PARTITION: usize = 11;
const F_OFFSET: usize = 12;
const F_SAVINGS: usize = 13;

/// Where a column's data is.
enum Data {
    Str(usize),
    Fixed(usize),
    Nullable(usize),
    Array,
}

/// (name, type, where the data is) in CallRecord order.
const COLUMNS: [(&str, &str, Data); 35] = [
    ("trace_id", "String", Data::Str(S_TRACE)),
    ("span_id", "String", Data::Str(S_SPAN)),
    ("parent_span_id", "String", Data::Str(S_PARENT)),
    ("transaction_id", "String", Data::Str(S_TX)),
    ("start_time", "DateTime64(6, 'UTC')", Data::Fixed(F_START)),
    ("end_time", "DateTime64(6, 'UTC')", Data::Fixed(F_END)),
    ("service_name", "String", Data::Str(S_DIMS)),
    ("environment", "String", Data::Str(S_DIMS + 1)),
    ("team", "String", Data::Str(S_DIMS + 2)),
    ("feature", "String", Data::Str(S_DIMS + 3)),
    ("risk_tier", "String", Data::Str(S_DIMS + 4)),
    ("provider", "String", Data::Str(S_PROVIDER)),
    ("operation", "String", Data::Str(S_OPERATION)),
    ("request_model", "String", Data::Str(S_REQUEST)),
    ("response_model", "String", Data::Str(S_RESPONSE)),
    ("input_tokens", "UInt64", Data::Fixed(F_TOKENS)),
    ("output_tokens", "UInt64", Data::Fixed(F_TOKENS + 1)),
    ("cache_read_tokens", "UInt64", Data::Fixed(F_TOKENS + 2)),
    ("cache_creation_tokens", "UInt64", Data::Fixed(F_TOKENS + 3)),
    ("reasoning_tokens", "UInt64", Data::Fixed(F_TOKENS + 4)),
    ("latency_ms", "Float64", Data::Fixed(F_LATENCY)),
    ("ttft_ms", "Nullable(Float64)", Data::Nullable(F_TTFT)),
    ("status", "String", Data::Str(S_STATUS)),
    ("error_type", "String", Data::Str(S_ERROR_TYPE)),
    ("retry_attempt", "UInt16", Data::Fixed(F_RETRY)),
    ("finish_reasons", "Array(String)", Data::Array),
    ("cost_pico", "Int64", Data::Fixed(F_COST)),
    ("price_status", "String", Data::Str(S_PRICE_STATUS)),
    ("price_version", "String", Data::Str(S_PRICE_VERSION)),
    ("convention", "String", Data::Str(S_CONVENTION)),
    ("source_partition", "Int32", Data::Fixed(F_PARTITION)),
    ("source_offset", "Int64", Data::Fixed(F_OFFSET)),
    ("cache_savings_pico", "Int64", Data::Fixed(F_SAVINGS)),
    ("response_id", "String", Data::Str(S_RESPONSE_ID)),
    ("input_basis", "String", Data::Str(S_INPUT_BASIS)),
];

/// (name, ClickHouse type) of each column, in block order: for `contract()`.
pub fn columns() -> impl ExactSizeIterator<Item = (&'static str, &'static str)> {
    COLUMNS.iter().map(|(name, ty, _)| (*name, *ty))
}

/// Column buffers that grow row by row and can be cut back to a mark.
#[derive(Default)]
pub struct Block {
    strings: [Vec<u8>; STRINGS],
    fixed: [Vec<u8>; FIXED],
    nulls: Vec<u8>,
    offsets: Vec<u8>,
    nested: u64,
    rows: usize,
}

/// Buffer lengths at a point, to undo a message's rows.
pub struct Mark {
    strings: [usize; STRINGS],
    fixed: [usize; FIXED],
    nulls: usize,
    offsets: usize,
    nested: u64,
    rows: usize,
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn string(out: &mut Vec<u8>, s: &[u8]) {
    varint(out, s.len() as u64);
    out.extend_from_slice(s);
}

fn hex(out: &mut Vec<u8>, b: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    varint(out, 2 * b.len() as u64);
    for x in b {
        out.push(DIGITS[(x >> 4) as usize]);
        out.push(DIGITS[(x & 15) as usize]);
    }
}

impl Block {
    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn mark(&self) -> Mark {
        Mark {
            strings: std::array::from_fn(|i| self.strings[i].len()),
            fixed: std::array::from_fn(|i| self.fixed[i].len()),
            nulls: self.nulls.len(),
            offsets: self.offsets.len(),
            nested: self.nested,
            rows: self.rows,
        }
    }

    pub fn reset_to(&mut self, m: &Mark) {
        for (buf, len) in self.strings.iter_mut().zip(m.strings) {
            buf.truncate(len);
        }
        for (buf, len) in self.fixed.iter_mut().zip(m.fixed) {
            buf.truncate(len);
        }
        self.nulls.truncate(m.nulls);
        self.offsets.truncate(m.offsets);
        self.nested = m.nested;
        self.rows = m.rows;
    }

    pub fn push(&mut self, r: &Row) {
        let s = &mut self.strings;
        hex(&mut s[S_TRACE], r.trace_id);
        hex(&mut s[S_SPAN], r.span_id);
        hex(&mut s[S_PARENT], r.parent_span_id);
        match r.transaction_id {
            Text::Given(t) => string(&mut s[S_TX], t.as_bytes()),
            Text::TraceHex => hex(&mut s[S_TX], r.trace_id),
        }
        for (i, d) in r.dims.iter().enumerate() {
            string(&mut s[S_DIMS + i], d.as_bytes());
        }
        string(&mut s[S_PROVIDER], r.provider.as_bytes());
        string(&mut s[S_OPERATION], r.operation.as_bytes());
        string(&mut s[S_REQUEST], r.request_model.as_bytes());
        string(&mut s[S_RESPONSE], r.response_model.as_bytes());
        let failed = r.error || !r.error_type.is_empty();
        let status = if failed { STATUS_FAILED } else { STATUS_OK };
        string(&mut s[S_STATUS], status.as_bytes());
        string(&mut s[S_ERROR_TYPE], r.error_type.as_bytes());
        let (status, version) = match r.priced {
            Some(v) => (PRICE_OK, v),
            None => (PRICE_UNKNOWN, ""),
        };
        string(&mut s[S_PRICE_STATUS], status.as_bytes());
        string(&mut s[S_PRICE_VERSION], version.as_bytes());
        string(&mut s[S_CONVENTION], r.convention.as_bytes());
        string(&mut s[S_RESPONSE_ID], r.response_id.as_bytes());
        string(&mut s[S_INPUT_BASIS], INPUT_REPORTED.as_bytes());
        for f in &r.finish_reasons {
            string(&mut s[S_FINISH], f.as_bytes());
        }
        self.nested += r.finish_reasons.len() as u64;
        self.offsets.extend_from_slice(&self.nested.to_le_bytes());

        let f = &mut self.fixed;
        f[F_START].extend_from_slice(&r.start_us.to_le_bytes());
        f[F_END].extend_from_slice(&r.end_us.to_le_bytes());
        for (i, t) in r.tokens.iter().enumerate() {
            f[F_TOKENS + i].extend_from_slice(&t.to_le_bytes());
        }
        f[F_LATENCY].extend_from_slice(&r.latency_ms.to_le_bytes());
        self.nulls.push(u8::from(r.ttft_ms.is_none()));
        f[F_TTFT].extend_from_slice(&r.ttft_ms.unwrap_or(0.0).to_le_bytes());
        f[F_RETRY].extend_from_slice(&r.retry_attempt.to_le_bytes());
        f[F_COST].extend_from_slice(&r.cost_pico.to_le_bytes());
        f[F_PARTITION].extend_from_slice(&r.partition.to_le_bytes());
        f[F_OFFSET].extend_from_slice(&r.offset.to_le_bytes());
        f[F_SAVINGS].extend_from_slice(&r.savings_pico.to_le_bytes());
        self.rows += 1;
    }

    /// Size of the Native block that `write_to` writes.
    pub fn encoded_len(&self) -> usize {
        let mut head = Vec::new();
        self.header(&mut head);
        for (name, ty, _) in COLUMNS.iter() {
            string(&mut head, name.as_bytes());
            string(&mut head, ty.as_bytes());
        }
        let data: usize = self
            .strings
            .iter()
            .chain(self.fixed.iter())
            .map(Vec::len)
            .sum();
        head.len() + data + self.nulls.len() + self.offsets.len()
    }

    fn header(&self, out: &mut Vec<u8>) {
        varint(out, COLUMNS.len() as u64);
        varint(out, self.rows as u64);
    }

    /// Write the Native block (header, then each column's name, type and data)
    /// into `out`, which is `encoded_len()` bytes; then empty self, keeping capacity.
    pub fn write_to(&mut self, out: &mut [u8]) {
        let mut pos = 0;
        let mut put = |b: &[u8]| {
            out[pos..pos + b.len()].copy_from_slice(b);
            pos += b.len();
        };
        let mut small = Vec::with_capacity(64);
        self.header(&mut small);
        put(&small);
        for (name, ty, data) in COLUMNS.iter() {
            small.clear();
            string(&mut small, name.as_bytes());
            string(&mut small, ty.as_bytes());
            put(&small);
            match data {
                Data::Str(i) => put(&self.strings[*i]),
                Data::Fixed(i) => put(&self.fixed[*i]),
                Data::Nullable(i) => {
                    put(&self.nulls);
                    put(&self.fixed[*i]);
                }
                Data::Array => {
                    put(&self.offsets);
                    put(&self.strings[S_FINISH]);
                }
            }
        }
        for buf in self.strings.iter_mut().chain(self.fixed.iter_mut()) {
            buf.clear();
        }
        self.nulls.clear();
        self.offsets.clear();
        self.nested = 0;
        self.rows = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::FIELD_NAMES;
    use crate::span::{DIMS, TOKENS};

    fn column_of(is: impl Fn(&Data) -> bool) -> &'static str {
        let mut found = COLUMNS.iter().filter(|(_, _, d)| is(d));
        let (name, _, _) = found.next().expect("a column");
        assert!(found.next().is_none(), "one column per buffer");
        name
    }

    #[test]
    fn every_buffer_is_written_as_one_column() {
        for i in 0..STRINGS {
            if i != S_FINISH {
                column_of(|d| matches!(d, Data::Str(j) if *j == i));
            }
        }
        for i in 0..FIXED {
            column_of(|d| matches!(d, Data::Fixed(j) | Data::Nullable(j) if *j == i));
        }
        column_of(|d| matches!(d, Data::Array));
    }

    #[test]
    fn dimensions_and_tokens_land_in_the_columns_of_their_fields() {
        for (i, field) in DIMS.iter().enumerate() {
            let name = column_of(|d| matches!(d, Data::Str(j) if *j == S_DIMS + i));
            assert_eq!(name, FIELD_NAMES[*field]);
        }
        for (i, field) in TOKENS.iter().enumerate() {
            let name = column_of(|d| matches!(d, Data::Fixed(j) if *j == F_TOKENS + i));
            assert_eq!(name, FIELD_NAMES[*field]);
        }
    }
}
