//! `llmpulse.stream_jobs._native`: OTLP trace requests straight to priced rows.
//!
//! `Scanner.feed` walks one serialized `ExportTraceServiceRequest`, keeps the
//! LLM spans, validates, normalises and prices the common case, and appends the
//! rows to a ClickHouse Native block (`Scanner.take_block`). Spans it does not
//! settle itself (rejections, unusual values, duplicates) come back as indices
//! for the Python reference path; a message it cannot read exactly as upb would
//! comes back as a str, and Python takes the whole message.
//!
//! The rules Python defines come in at construction (the key table and
//! `Rules`); the constants the crate keeps for speed (field slots, columns,
//! labels) come out through `contract()`, which `fastpath.NativeScanner` checks
//! against the Python definitions before it builds a Scanner.

mod block;
mod extract;
mod proto;
mod span;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use std::collections::HashSet;
use std::hash::BuildHasherDefault;

use block::Block;
use extract::{key_value, Entry, FastMap, Fields, KeyHash, Table, FIELD_NAMES, OI_KIND};
use proto::{validate, Bail, Field, Reader, Res, Schema};
use span::{is_agent, is_llm, normalise, Catalogue, Derived, Limits, Merged, Rules, SpanCore};

const CACHE_MAX: usize = 100_000;

/// (model, day) -> (pico-dollar rates, price version), or None for an unknown model.
type PriceCache = FastMap<(String, i64), Option<([i64; 5], String)>>;

/// Trace id + span id of the LLM spans of one message, to find duplicates.
type Seen = HashSet<Vec<u8>, BuildHasherDefault<KeyHash>>;

/// Python callables for prices and provider names, with caches in front; a cache
/// miss takes the GIL back for the call.
struct PyCatalogue<'s> {
    price_fn: &'s Py<PyAny>,
    provider_fn: &'s Py<PyAny>,
    prices: &'s mut PriceCache,
    providers: &'s mut FastMap<String, String>,
}

impl Catalogue for PyCatalogue<'_> {
    fn price(&mut self, model: &str, day: i64) -> Res<Option<([i64; 5], String)>> {
        let key = (model.to_string(), day);
        if let Some(hit) = self.prices.get(&key) {
            return Ok(hit.clone());
        }
        let got = Python::with_gil(|py| {
            self.price_fn
                .call1(py, (model, day))
                .and_then(|v| v.extract::<Option<([i64; 5], String)>>(py))
        })
        .map_err(|_| Bail("price lookup raised"))?;
        if self.prices.len() < CACHE_MAX {
            self.prices.insert(key, got.clone());
        }
        Ok(got)
    }

    fn provider(&mut self, name: &str) -> Res<String> {
        if let Some(hit) = self.providers.get(name) {
            return Ok(hit.clone());
        }
        let got = Python::with_gil(|py| {
            self.provider_fn
                .call1(py, (name,))
                .and_then(|v| v.extract::<String>(py))
        })
        .map_err(|_| Bail("provider lookup raised"))?;
        if self.providers.len() < CACHE_MAX {
            self.providers.insert(name.to_string(), got.clone());
        }
        Ok(got)
    }
}

/// Counts of one message, and the spans left to the Python path.
#[derive(Default)]
struct Fed {
    spans: u32,
    llm: u32,
    non_llm: u32,
    unpriced: u32,
    slow: Vec<(u32, bool)>, // (span index in the message, duplicate of an earlier span)
    agents: Vec<u32>,       // non-LLM spans that `agents.agent_span` keeps (tools, agents)
}

/// Reads messages into one Native block of llm_calls rows.
#[pyclass(module = "llmpulse.stream_jobs._native")]
struct Scanner {
    table: Table,
    rules: Rules,
    max_tokens: i64,
    max_chars: usize,
    max_duration_ms: f64,
    price_fn: Py<PyAny>,
    provider_fn: Py<PyAny>,
    prices: PriceCache,
    providers: FastMap<String, String>,
    block: Block,
}

#[pymethods]
impl Scanner {
    /// `table`: attribute key -> (flags, [(field name, rank)]); `price(model, day)`
    /// -> ((5 pico rates), version) or None; `provider(name)` -> canonical name;
    /// `rules`: the fields of `span::Rules` by name.
    #[new]
    fn new(
        table: &Bound<'_, PyDict>,
        max_tokens: i64,
        max_chars: usize,
        price: Py<PyAny>,
        provider: Py<PyAny>,
        rules: &Bound<'_, PyDict>,
    ) -> PyResult<Self> {
        let rules_dict = rules;
        let rules = Rules::new(
            rule(rules_dict, "llm_flag")?,
            rule(rules_dict, "llm_kinds")?,
            rule(rules_dict, "conventions")?,
            rule(rules_dict, "unknown")?,
            rule(rules_dict, "operations")?,
        )
        .map_err(PyValueError::new_err)?
        .with_lists(
            rule(rules_dict, "non_inference")?,
            rule(rules_dict, "resource_first")?,
            rule(rules_dict, "first_token_events")?,
            rule(rules_dict, "raw_input_conventions")?,
        )
        .map_err(PyValueError::new_err)?;
        let max_duration_ms: f64 = rule(rules_dict, "max_duration_ms")?;
        let mut t = Table::default();
        for (key, value) in table.iter() {
            let key: String = key.extract()?;
            let (flags, targets): (u32, Vec<(String, u8)>) = value.extract()?;
            if !rules.covers(flags) {
                return Err(PyValueError::new_err(format!(
                    "flags {flags} of {key:?} are beyond the convention table"
                )));
            }
            let mut resolved = Vec::with_capacity(targets.len());
            for (name, rank) in targets {
                let idx = FIELD_NAMES
                    .iter()
                    .position(|n| *n == name)
                    .ok_or_else(|| PyValueError::new_err(format!("unknown field {name:?}")))?;
                resolved.push((idx, rank));
            }
            t.insert(
                key.into_bytes().into_boxed_slice(),
                Entry {
                    flags,
                    targets: resolved,
                },
            );
        }
        Ok(Scanner {
            table: t,
            rules,
            max_tokens,
            max_chars,
            max_duration_ms,
            price_fn: price,
            provider_fn: provider,
            prices: FastMap::default(),
            providers: FastMap::default(),
            block: Block::default(),
        })
    }

    /// Read one message. Returns (spans, llm, non_llm, unpriced, [(index, dup)],
    /// [agent span index]),
    /// or a str saying why the Python path must read the whole message.
    #[allow(clippy::too_many_arguments)]
    fn feed<'py>(
        &mut self,
        py: Python<'py>,
        payload: &[u8],
        partition: i32,
        offset: i64,
        future_ns: f64,
        ancient_ns: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mark = self.block.mark();
        let limits = Limits {
            max_tokens: self.max_tokens,
            max_chars: self.max_chars,
            max_duration_ms: self.max_duration_ms,
            future_ns,
            ancient_ns,
        };
        let mut cat = PyCatalogue {
            price_fn: &self.price_fn,
            provider_fn: &self.provider_fn,
            prices: &mut self.prices,
            providers: &mut self.providers,
        };
        let mut fed = Fed::default();
        let mut ctx = Ctx {
            table: &self.table,
            rules: &self.rules,
            lim: &limits,
            cat: &mut cat,
            block: &mut self.block,
            source: (partition, offset),
            fed: &mut fed,
            seen: Seen::default(),
        };
        // The Kafka fetcher and the event loop run on while a message is read.
        let outcome = py.allow_threads(|| request(payload, &mut ctx));
        if let Err(Bail(why)) = outcome {
            self.block.reset_to(&mark);
            return Ok(why.into_pyobject(py)?.into_any());
        }
        let slow = PyList::new(py, fed.slow)?;
        let agents = PyList::new(py, fed.agents)?;
        Ok(PyTuple::new(
            py,
            [
                fed.spans.into_pyobject(py)?.into_any(),
                fed.llm.into_pyobject(py)?.into_any(),
                fed.non_llm.into_pyobject(py)?.into_any(),
                fed.unpriced.into_pyobject(py)?.into_any(),
                slow.into_any(),
                agents.into_any(),
            ],
        )?
        .into_any())
    }

    /// Rows read so far.
    fn rows(&self) -> usize {
        self.block.rows()
    }

    /// (Native block bytes, rows) of everything fed since the last call.
    fn take_block<'py>(&mut self, py: Python<'py>) -> PyResult<(Bound<'py, PyBytes>, usize)> {
        let rows = self.block.rows();
        let block = &mut self.block;
        let bytes = PyBytes::new_with(py, block.encoded_len(), |buf| {
            block.write_to(buf);
            Ok(())
        })?;
        Ok((bytes, rows))
    }
}

/// What reading one message needs, passed down the walk.
struct Ctx<'c> {
    table: &'c Table,
    rules: &'c Rules,
    lim: &'c Limits,
    cat: &'c mut (dyn Catalogue + Send),
    block: &'c mut Block,
    source: (i32, i64),
    fed: &'c mut Fed,
    seen: Seen,
}

fn request(buf: &[u8], ctx: &mut Ctx) -> Res<()> {
    let mut r = Reader::new(buf);
    while let Some((number, field)) = r.next()? {
        match (number, field) {
            (1, Field::Len(rs)) => resource_spans(rs, ctx)?,
            (1, _) => return Err(Bail("unexpected wire type in the request")),
            _ => {}
        }
    }
    Ok(())
}

fn resource_spans(buf: &[u8], ctx: &mut Ctx) -> Res<()> {
    // The resource comes first in practice, but the wire does not promise it.
    let mut resource: Option<&[u8]> = None;
    let mut scopes: Vec<&[u8]> = Vec::new();
    let mut r = Reader::new(buf);
    while let Some((number, field)) = r.next()? {
        match (number, field) {
            (1, Field::Len(_)) if resource.is_some() => {
                return Err(Bail("resource given twice (merged by protobuf)"));
            }
            (1, Field::Len(b)) => resource = Some(b),
            (2, Field::Len(b)) => scopes.push(b),
            (3, Field::Len(b)) => {
                proto::utf8(b)?;
            }
            (1..=3, _) => return Err(Bail("unexpected wire type in ResourceSpans")),
            _ => {}
        }
    }
    let mut res = Fields::new();
    if let Some(b) = resource {
        let mut r = Reader::new(b);
        while let Some((number, field)) = r.next()? {
            match (number, field) {
                (1, Field::Len(kv)) => key_value(kv, ctx.table, &mut res)?,
                (1, _) | (2, Field::Len(_)) => {
                    return Err(Bail("unexpected wire type in Resource"))
                }
                _ => {}
            }
        }
    }
    res.slots[OI_KIND] = None;
    for scope in scopes {
        let mut r = Reader::new(scope);
        while let Some((number, field)) = r.next()? {
            match (number, field) {
                (1, Field::Len(b)) => validate(b, Schema::Scope, 1)?,
                (2, Field::Len(b)) => one_span(b, ctx, &res)?,
                (3, Field::Len(b)) => {
                    proto::utf8(b)?;
                }
                (1..=3, _) => return Err(Bail("unexpected wire type in ScopeSpans")),
                _ => {}
            }
        }
    }
    Ok(())
}

fn one_span(buf: &[u8], ctx: &mut Ctx, resource: &Fields) -> Res<()> {
    let fed = &mut *ctx.fed;
    let index = fed.spans;
    fed.spans += 1;
    let mut core = SpanCore {
        trace_id: b"",
        span_id: b"",
        parent_span_id: b"",
        start_ns: 0,
        end_ns: 0,
        status_code: 0,
        first_token_event: false,
    };
    let mut fields = Fields::new();
    let mut status_seen = false;
    let mut r = Reader::new(buf);
    while let Some((number, field)) = r.next()? {
        match (number, field) {
            (1, Field::Len(b)) => core.trace_id = b,
            (2, Field::Len(b)) => core.span_id = b,
            (3 | 5, Field::Len(b)) => {
                proto::utf8(b)?;
            }
            (4, Field::Len(b)) => core.parent_span_id = b,
            (6 | 10 | 12 | 14, Field::Varint(_)) => {}
            (7, Field::Fixed64(t)) => core.start_ns = t,
            (8, Field::Fixed64(t)) => core.end_ns = t,
            (9, Field::Len(kv)) => key_value(kv, ctx.table, &mut fields)?,
            (11, Field::Len(b)) => {
                validate(b, Schema::Event, 1)?;
                let mut e = Reader::new(b);
                while let Some((n, f)) = e.next()? {
                    if let (2, Field::Len(name)) = (n, f) {
                        let events = &ctx.rules.first_token_events;
                        core.first_token_event |= events.iter().any(|t| t.as_bytes() == name);
                    }
                }
            }
            (13, Field::Len(b)) => validate(b, Schema::Link, 1)?,
            (15, Field::Len(b)) => {
                if status_seen {
                    return Err(Bail("status given twice (merged by protobuf)"));
                }
                status_seen = true;
                validate(b, Schema::Status, 1)?;
                let mut s = Reader::new(b);
                while let Some((n, f)) = s.next()? {
                    if let (3, Field::Varint(code)) = (n, f) {
                        core.status_code = code;
                    }
                }
            }
            (16, Field::Fixed32) => {}
            (1..=16, _) => return Err(Bail("unexpected wire type in Span")),
            _ => {}
        }
    }
    if !is_llm(&fields, ctx.rules) {
        fed.non_llm += 1;
        if is_agent(&fields, ctx.rules) {
            fed.agents.push(index);
        }
        return Ok(());
    }
    fed.llm += 1;
    let mut key = Vec::with_capacity(core.trace_id.len() + core.span_id.len());
    key.extend_from_slice(core.trace_id);
    key.extend_from_slice(core.span_id);
    if !ctx.seen.insert(key) {
        fed.slow.push((index, true));
        return Ok(());
    }
    let merged = Merged {
        span: &fields,
        resource,
        resource_first: &ctx.rules.resource_first,
    };
    let mut derived = Derived {
        provider: String::new(),
        operation: String::new(),
        version: None,
    };
    match normalise(
        &core,
        &merged,
        ctx.rules,
        ctx.lim,
        ctx.cat,
        &mut derived,
        ctx.source,
    )? {
        Some(row) => {
            if row.priced.is_none() {
                fed.unpriced += 1;
            }
            ctx.block.push(&row);
        }
        None => fed.slow.push((index, false)),
    }
    Ok(())
}

/// One entry of the `rules` dict given to `Scanner`.
fn rule<'py, T: FromPyObject<'py>>(rules: &Bound<'py, PyDict>, key: &str) -> PyResult<T> {
    rules
        .get_item(key)?
        .ok_or_else(|| PyValueError::new_err(format!("Scanner rules lack {key:?}")))?
        .extract()
}

/// The constants this crate keeps for itself, for `fastpath.check_contract` to
/// compare with the Python definitions: the extractor's field slots, the block's
/// (column, ClickHouse type) list, the status code of an error and the day
/// length, and the labels and limits that `normalise.py` spells inline.
#[pyfunction]
fn contract(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let labels = PyDict::new(py);
    labels.set_item("operation", span::DEFAULT_OPERATION)?;
    labels.set_item("error_type", span::DEFAULT_ERROR_TYPE)?;
    labels.set_item("ok", block::STATUS_OK)?;
    labels.set_item("error", block::STATUS_FAILED)?;
    labels.set_item("priced", block::PRICE_OK)?;
    labels.set_item("unpriced", block::PRICE_UNKNOWN)?;
    labels.set_item("reported", block::INPUT_REPORTED)?;
    let out = PyDict::new(py);
    out.set_item("fields", PyTuple::new(py, FIELD_NAMES)?)?;
    out.set_item("columns", PyTuple::new(py, block::columns())?)?;
    out.set_item("status_error", span::STATUS_ERROR)?;
    out.set_item("ns_per_day", span::NS_PER_DAY)?;
    out.set_item("labels", labels)?;
    out.set_item(
        "finish_reasons",
        (span::MAX_FINISH_REASONS, span::FINISH_REASON_CHARS),
    )?;
    Ok(out)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Scanner>()?;
    m.add_function(wrap_pyfunction!(contract, m)?)?;
    Ok(())
}
