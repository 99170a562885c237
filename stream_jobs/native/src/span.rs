//! Validate, normalise and price one LLM span: the common case of
//! `stream_jobs/normalise.py`, with the same results bit for bit.
//!
//! Whatever is not the common case (a rejection, a value of an unusual type,
//! non-ASCII operation names, numbers at the edge of a limit) returns `None`:
//! the span is "slow" and the Python reference path handles it, so every
//! rejection reason and detail comes from one place.

use crate::block::{Row, Text};
use crate::extract::{slot, string_array, Fields, Val, FIELD_NAMES, N_FIELDS, OI_KIND};
use crate::proto::Res;

pub const PROVIDER: usize = slot("provider");
pub const OPERATION: usize = slot("operation");
pub const REQUEST_MODEL: usize = slot("request_model");
pub const RESPONSE_MODEL: usize = slot("response_model");
/// Input, output, cache read, cache creation, reasoning: the order of `Row::tokens`
/// and of the price rates (`ModelPrice.rates`).
pub const TOKENS: [usize; 5] = [
    slot("input_tokens"),
    slot("output_tokens"),
    slot("cache_read_tokens"),
    slot("cache_creation_tokens"),
    slot("reasoning_tokens"),
];
pub const FINISH_REASONS: usize = slot("finish_reasons");
pub const ERROR_TYPE: usize = slot("error_type");
pub const RESPONSE_ID: usize = slot("response_id");
pub const INVOCATION: usize = slot("invocation_parameters");
pub const TTFT_MS: usize = slot("ttft_ms");
pub const TTFT_S: usize = slot("ttft_s");
pub const RETRY: usize = slot("retry_attempt");
pub const TRANSACTION: usize = slot("transaction_id");
/// The order of `Row::dims`.
pub const DIMS: [usize; 5] = [
    slot("service_name"),
    slot("environment"),
    slot("team"),
    slot("feature"),
    slot("risk_tier"),
];

// What `normalise.py` spells inline; `contract()` exports them and
// `fastpath.check_contract` compares them with a probe of the Python path.
pub const DEFAULT_OPERATION: &str = "chat";
pub const DEFAULT_ERROR_TYPE: &str = "error"; // an error status without error.type
pub const MAX_FINISH_REASONS: usize = 8;
pub const FINISH_REASON_CHARS: usize = 32;
// Checked against `normalise._NS_PER_DAY` and `normalise._STATUS_ERROR`.
pub const NS_PER_DAY: u64 = 86_400 * 1_000_000_000;
pub const STATUS_ERROR: u64 = 2;

/// The rules Python hands over when the Scanner is built, each defined once there.
pub struct Rules {
    /// `extract.F_LLM`: the flag of the attribute keys that mark an LLM span.
    pub llm_flag: u32,
    /// The OpenInference span kinds that make an LLM span (`extract._OI_KINDS`).
    pub llm_kinds: Vec<String>,
    /// `extract.convention_of(flags)` for every flag word; a power-of-two length.
    pub conventions: Vec<String>,
    /// `record.UNKNOWN`: the provider and dimensions of a span that names none.
    pub unknown: String,
    /// `normalise._OPERATIONS`: lower-cased operation name -> the name recorded.
    pub operations: Vec<(String, String)>,
    /// `conventions.NON_INFERENCE_OPERATIONS`: operations that are not a model call.
    pub non_inference: Vec<String>,
    /// `conventions.RESOURCE_FIRST`, by slot: fields where the resource's value wins.
    pub resource_first: [bool; N_FIELDS],
    /// `conventions.FIRST_TOKEN_EVENTS`: a span with such an event is Python's.
    pub first_token_events: Vec<String>,
    /// The conventions of `conventions.INPUT_WITHOUT_CACHE`: their spans with cached
    /// tokens are Python's (it adds the cache to the input for some providers).
    pub raw_input_conventions: Vec<String>,
}

impl Rules {
    /// The rules, if the convention table can be indexed by a mask of the flags.
    pub fn new(
        llm_flag: u32,
        llm_kinds: Vec<String>,
        conventions: Vec<String>,
        unknown: String,
        operations: Vec<(String, String)>,
    ) -> Result<Self, &'static str> {
        if !conventions.len().is_power_of_two() {
            return Err("the convention table's length is not a power of two");
        }
        Ok(Rules {
            llm_flag,
            llm_kinds,
            conventions,
            unknown,
            operations,
            non_inference: vec![],
            resource_first: [false; N_FIELDS],
            first_token_events: vec![],
            raw_input_conventions: vec![],
        })
    }

    /// The rules with these lists: non-inference operations, resource-first field
    /// names, first-token event names, conventions whose input may exclude the cache.
    pub fn with_lists(
        mut self,
        non_inference: Vec<String>,
        resource_first: Vec<String>,
        first_token_events: Vec<String>,
        raw_input_conventions: Vec<String>,
    ) -> Result<Self, &'static str> {
        for name in &resource_first {
            match FIELD_NAMES.iter().position(|n| n == name) {
                Some(i) => self.resource_first[i] = true,
                None => return Err("a resource-first field is not a field"),
            }
        }
        self.non_inference = non_inference;
        self.first_token_events = first_token_events;
        self.raw_input_conventions = raw_input_conventions;
        Ok(self)
    }

    /// True when the convention table has a label for every word of these flags.
    pub fn covers(&self, flags: u32) -> bool {
        (flags as usize) < self.conventions.len()
    }

    /// The convention label of a span's flags, as `extract.convention_of`.
    pub fn convention(&self, flags: u32) -> &str {
        &self.conventions[flags as usize & (self.conventions.len() - 1)]
    }
}

/// The validator's limits, as Python's `normalise.Limits` (times already in ns).
pub struct Limits {
    pub max_tokens: i64,
    pub max_chars: usize,
    pub max_duration_ms: f64, // latency or time to first token beyond it: Python decides
    pub future_ns: f64,       // reject starts after this (now + skew)
    pub ancient_ns: f64,      // reject starts before this (now - max age)
}

/// A span's own fields over its resource's (span wins, as `{**resource, **span}`),
/// except the `resource_first` fields, where the resource's value wins.
pub struct Merged<'r, 'a> {
    pub span: &'r Fields<'a>,
    pub resource: &'r Fields<'a>,
    pub resource_first: &'r [bool; N_FIELDS],
}

impl<'a> Merged<'_, 'a> {
    fn get(&self, field: usize) -> Option<Val<'a>> {
        if self.resource_first[field] {
            match self.resource.get(field) {
                None | Some(Val::Empty) | Some(Val::Str("")) => {
                    self.span.get(field).or_else(|| self.resource.get(field))
                }
                given => given,
            }
        } else {
            self.span.get(field).or_else(|| self.resource.get(field))
        }
    }
}

/// The span's own wire fields that normalising needs.
pub struct SpanCore<'a> {
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub parent_span_id: &'a [u8],
    pub start_ns: u64,
    pub end_ns: u64,
    pub status_code: u64,
    /// It has a first-token event (`normalise._first_token_event` reads it).
    pub first_token_event: bool,
}

/// Prices and canonical provider names, looked up in Python and cached.
pub trait Catalogue {
    /// (rates in pico-dollars per token, version) of `model` on `day`, if known.
    fn price(&mut self, model: &str, day: i64) -> Res<Option<([i64; 5], String)>>;
    fn provider(&mut self, name: &str) -> Res<String>;
}

/// `extract.is_llm`: an OpenInference span kind decides when present; else a
/// non-inference operation is not a call, and an LLM marker key makes one.
pub fn is_llm(fields: &Fields, rules: &Rules) -> bool {
    if let Some(Val::Str(kind)) = fields.get(OI_KIND) {
        if !kind.is_empty() {
            return rules.llm_kinds.iter().any(|k| k == kind);
        }
    }
    if let Some(Val::Str(op)) = fields.get(OPERATION) {
        if op.is_ascii()
            && rules
                .non_inference
                .iter()
                .any(|n| op.eq_ignore_ascii_case(n))
        {
            return false;
        }
    }
    fields.flags & rules.llm_flag != 0
}

/// `extract.is_agent`: a non-inference operation, or an OpenInference kind that is
/// not a call.
pub fn is_agent(fields: &Fields, rules: &Rules) -> bool {
    if let Some(Val::Str(kind)) = fields.get(OI_KIND) {
        if !kind.is_empty() {
            return !rules.llm_kinds.iter().any(|k| k == kind);
        }
    }
    match fields.get(OPERATION) {
        Some(Val::Str(op)) => {
            op.is_ascii()
                && rules
                    .non_inference
                    .iter()
                    .any(|n| op.eq_ignore_ascii_case(n))
        }
        _ => false,
    }
}

/// `_text`: a string within the limit, `default` when absent or empty; None = slow.
fn text<'a>(v: Option<Val<'a>>, max_chars: usize, default: &'a str) -> Option<&'a str> {
    match v {
        None | Some(Val::Empty) | Some(Val::Str("")) => Some(default),
        Some(Val::Str(s)) if s.len() <= max_chars || s.chars().count() <= max_chars => Some(s),
        _ => None,
    }
}

/// `_response_id`: a string within the limit, else "" (never slow, never a rejection).
fn response_id<'a>(v: Option<Val<'a>>, max_chars: usize) -> &'a str {
    match v {
        Some(Val::Str(s)) if s.len() <= max_chars || s.chars().count() <= max_chars => s,
        _ => "",
    }
}

/// `_token`: a non-negative integer within the limit; None = slow.
fn token(v: Option<Val>, max: i64) -> Option<u64> {
    match v {
        None | Some(Val::Empty) => Some(0),
        Some(Val::Int(n)) if (0..=max).contains(&n) => Some(n as u64),
        _ => None,
    }
}

/// `_number`: Ok(None) when absent; Err(()) = slow.
fn number(v: Option<Val>) -> Result<Option<f64>, ()> {
    match v {
        None | Some(Val::Empty) => Ok(None),
        Some(Val::Int(n)) => Ok(Some(n as f64)),
        Some(Val::Double(x)) => Ok(Some(x)),
        _ => Err(()),
    }
}

/// The first `FINISH_REASON_CHARS` characters, as Python's `s[:32]`.
fn first_chars(s: &str) -> &str {
    match s.char_indices().nth(FINISH_REASON_CHARS) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn finish_reasons(v: Option<Val<'_>>) -> Res<Option<Vec<&str>>> {
    Ok(match v {
        None | Some(Val::Empty) => Some(Vec::new()),
        Some(Val::Str(s)) => Some(vec![first_chars(s)]),
        Some(Val::Array(b)) => string_array(b)?.map(|items| {
            items
                .into_iter()
                .take(MAX_FINISH_REASONS)
                .map(first_chars)
                .collect()
        }),
        _ => None,
    })
}

/// The recorded operation name: lower-cased, then renamed by the aliases.
fn operation(raw: &str, rules: &Rules) -> Option<String> {
    if !raw.is_ascii() {
        return None;
    }
    let low = raw.to_ascii_lowercase();
    let alias = rules.operations.iter().find(|(from, _)| *from == low);
    Some(alias.map_or(low, |(_, to)| to.clone()))
}

/// `start > threshold` exactly, for an integer start and a float threshold.
fn after(start: u64, threshold: f64) -> bool {
    (start as i128) > (threshold.floor() as i128)
}

fn before(start: u64, threshold: f64) -> bool {
    (start as i128) < (threshold.ceil() as i128)
}

/// Owned strings a row needs besides those borrowed from the message.
pub struct Derived {
    pub provider: String,
    pub operation: String,
    pub version: Option<String>,
}

/// A priced row for an LLM span, or None when the Python path must take it.
/// The convention comes from the span's own flags (`f.span.flags`), as in Python.
pub fn normalise<'a>(
    core: &SpanCore<'a>,
    f: &Merged<'_, 'a>,
    rules: &'a Rules,
    lim: &Limits,
    cat: &mut dyn Catalogue,
    derived: &'a mut Derived,
    source: (i32, i64),
) -> Res<Option<Row<'a>>> {
    if core.trace_id.len() != 16 || core.span_id.len() != 8 || core.end_ns < core.start_ns {
        return Ok(None);
    }
    if !lim.future_ns.is_finite()
        || !lim.ancient_ns.is_finite()
        || after(core.start_ns, lim.future_ns)
        || before(core.start_ns, lim.ancient_ns)
    {
        return Ok(None);
    }
    let max = lim.max_chars;
    let (Some(req), Some(resp)) = (
        text(f.get(REQUEST_MODEL), max, ""),
        text(f.get(RESPONSE_MODEL), max, ""),
    ) else {
        return Ok(None);
    };
    // No requested model: Python reads the invocation parameters (JSON), or a
    // first-token event (normalise.py).
    if (req.is_empty() && f.get(INVOCATION).is_some()) || core.first_token_event {
        return Ok(None);
    }
    if req.is_empty() && resp.is_empty() {
        return Ok(None);
    }
    let (req, resp) = (
        if req.is_empty() { resp } else { req },
        if resp.is_empty() { req } else { resp },
    );

    // No usage reported: `normalise.NO_USAGE` (or an error) is Python's to decide.
    let absent = |field: usize| matches!(f.get(field), None | Some(Val::Empty));
    if absent(TOKENS[0]) && absent(TOKENS[1]) {
        return Ok(None);
    }
    let mut tokens = [0u64; 5];
    for (t, field) in tokens.iter_mut().zip(TOKENS) {
        match token(f.get(field), lim.max_tokens) {
            Some(n) => *t = n,
            None => return Ok(None),
        }
    }
    let [inp, out, cache_read, cache_creation, reasoning] = tokens;
    if cache_read + cache_creation > inp || reasoning > out {
        return Ok(None);
    }
    let convention = rules.convention(f.span.flags);
    if cache_read + cache_creation > 0
        && rules.raw_input_conventions.iter().any(|c| c == convention)
    {
        return Ok(None);
    }
    let ttft = match number(f.get(TTFT_MS)) {
        Err(()) => return Ok(None),
        Ok(Some(ms)) => Some(ms),
        Ok(None) => match number(f.get(TTFT_S)) {
            Err(()) => return Ok(None),
            Ok(s) => s.map(|s| s * 1000.0),
        },
    };
    let latency_ms = (core.end_ns - core.start_ns) as f64 / 1e6;
    let in_range = |ms: f64| ms.is_finite() && (0.0..=lim.max_duration_ms).contains(&ms);
    if !in_range(latency_ms) || ttft.is_some_and(|ms| !in_range(ms)) {
        return Ok(None);
    }
    let Some(retry) = token(f.get(RETRY), lim.max_tokens) else {
        return Ok(None);
    };
    let Ok(retry) = u16::try_from(retry) else {
        return Ok(None);
    };

    let Some(provider) = text(f.get(PROVIDER), max, &rules.unknown) else {
        return Ok(None);
    };
    let Some(op) = text(f.get(OPERATION), max, DEFAULT_OPERATION).and_then(|o| operation(o, rules))
    else {
        return Ok(None);
    };
    let Some(error_type) = text(f.get(ERROR_TYPE), max, "") else {
        return Ok(None);
    };
    let Some(reasons) = finish_reasons(f.get(FINISH_REASONS))? else {
        return Ok(None);
    };
    let tx = match f.get(TRANSACTION) {
        None | Some(Val::Empty) | Some(Val::Str("")) => Text::TraceHex,
        v => match text(v, max, "") {
            Some(t) => Text::Given(t),
            None => return Ok(None),
        },
    };
    let mut dims = [""; 5];
    for (d, field) in dims.iter_mut().zip(DIMS) {
        match text(f.get(field), max, &rules.unknown) {
            Some(t) => *d = t,
            None => return Ok(None),
        }
    }

    let day = (core.start_ns / NS_PER_DAY) as i64;
    let price = match cat.price(resp, day)? {
        Some(p) => Some(p),
        None => cat.price(req, day)?,
    };
    let (cost, savings) = match &price {
        None => (0i128, 0i128),
        Some((r, _)) => {
            let [r_in, r_out, r_cr, r_cc, r_rs] = r.map(i128::from);
            let [inp, out, cr, cc, rs] = tokens.map(i128::from);
            (
                (inp - cr - cc) * r_in + cr * r_cr + cc * r_cc + (out - rs) * r_out + rs * r_rs,
                cr * (r_in - r_cr),
            )
        }
    };
    let (Ok(cost), Ok(savings)) = (i64::try_from(cost), i64::try_from(savings)) else {
        return Ok(None);
    };
    let is_error = core.status_code == STATUS_ERROR;
    let error_type = if is_error && error_type.is_empty() {
        DEFAULT_ERROR_TYPE
    } else {
        error_type
    };

    *derived = Derived {
        provider: cat.provider(provider)?,
        operation: op,
        version: price.map(|(_, v)| v),
    };
    let derived: &'a Derived = derived;
    Ok(Some(Row {
        trace_id: core.trace_id,
        span_id: core.span_id,
        parent_span_id: core.parent_span_id,
        transaction_id: tx,
        start_us: (core.start_ns / 1000) as i64,
        end_us: (core.end_ns / 1000) as i64,
        dims,
        provider: &derived.provider,
        operation: &derived.operation,
        request_model: req,
        response_model: resp,
        tokens,
        latency_ms: (core.end_ns - core.start_ns) as f64 / 1e6,
        ttft_ms: ttft,
        error: is_error,
        error_type,
        retry_attempt: retry,
        finish_reasons: reasons,
        cost_pico: cost,
        priced: derived.version.as_deref(),
        convention: rules.convention(f.span.flags),
        partition: source.0,
        offset: source.1,
        savings_pico: savings,
        response_id: response_id(f.get(RESPONSE_ID), max),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(conventions: &[&str]) -> Result<Rules, &'static str> {
        let labels = conventions.iter().map(|c| c.to_string()).collect();
        Rules::new(1, vec![], labels, "unknown".into(), vec![])
    }

    #[test]
    fn the_convention_table_is_indexed_by_the_flag_word() {
        let r = rules(&["a", "b", "c", "d"]).unwrap();
        assert_eq!(r.convention(2), "c");
        assert!(r.covers(3) && !r.covers(4));
        assert!(rules(&["a", "b", "c"]).is_err());
        assert!(rules(&[]).is_err());
    }
}
