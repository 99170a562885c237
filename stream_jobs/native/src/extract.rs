//! One pass over a KeyValue list into record fields, as `stream_jobs/extract.py`
//! does: each key is looked up once in the table that Python hands over
//! (key -> convention flags, [(field, precedence rank)]), the best rank wins and
//! the first of equal ranks wins.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::proto::{utf8, validate, Bail, Field, Reader, Res, Schema};

/// The fields Python's `conventions.FIELDS` fills, plus the OpenInference span kind:
/// the extractor's slots, in slot order. The only positional list of them here
/// (the rest of the crate names a slot with `slot`); `fastpath.check_contract`
/// compares it with the fields of the key table when the Scanner is built.
pub const FIELD_NAMES: [&str; 25] = [
    "provider",
    "operation",
    "request_model",
    "response_model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
    "finish_reasons",
    "error_type",
    "response_id",
    "ttft_ms",
    "ttft_s",
    "retry_attempt",
    "transaction_id",
    "tool_name",
    "agent_name",
    "risk_tier",
    "team",
    "feature",
    "environment",
    "service_name",
    "invocation_parameters",
    "oi_kind",
];
pub const N_FIELDS: usize = FIELD_NAMES.len();
pub const OI_KIND: usize = slot("oi_kind");

/// The slot of field `name`, at compile time (an unknown name does not compile).
pub const fn slot(name: &str) -> usize {
    let mut i = 0;
    while i < N_FIELDS {
        if same(FIELD_NAMES[i].as_bytes(), name.as_bytes()) {
            return i;
        }
        i += 1;
    }
    panic!("not a field of FIELD_NAMES");
}

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// An attribute value as far as the fast path needs to know it.
#[derive(Clone, Copy)]
pub enum Val<'a> {
    Empty,
    Str(&'a str),
    Int(i64),
    Double(f64),
    Bool,
    Array(&'a [u8]),
    Other, // bytes or a key-value list
}

/// A hash for short byte keys: the length with the first and last eight bytes,
/// which tell attribute keys apart (they share prefixes); collisions only cost a
/// compare. SipHash and byte-at-a-time FNV both showed up in profiles.
#[derive(Default)]
pub struct KeyHash(u64);

impl Hasher for KeyHash {
    fn finish(&self) -> u64 {
        let h = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^ (h >> 29)
    }
    fn write(&mut self, b: &[u8]) {
        let n = b.len();
        let word = |s: &[u8]| {
            let mut w = [0u8; 8];
            w[..s.len()].copy_from_slice(s);
            u64::from_le_bytes(w)
        };
        let (head, tail) = if n >= 8 {
            (word(&b[..8]), word(&b[n - 8..]))
        } else {
            (word(b), 0)
        };
        self.0 = (self.0.rotate_left(5) ^ head ^ tail.rotate_left(31) ^ n as u64)
            .wrapping_mul(0x0100_0000_01b3);
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = self.0.rotate_left(5) ^ n as u64;
    }
}

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHash>>;

/// What one attribute key means: convention flags and the fields it fills.
pub struct Entry {
    pub flags: u32,
    pub targets: Vec<(usize, u8)>,
}

pub type Table = FastMap<Box<[u8]>, Entry>;

/// The fields found in one attribute list: (rank, value) per field.
pub struct Fields<'a> {
    pub slots: [Option<(u8, Val<'a>)>; N_FIELDS],
    pub flags: u32,
}

impl<'a> Fields<'a> {
    pub fn new() -> Self {
        Fields {
            slots: [None; N_FIELDS],
            flags: 0,
        }
    }

    pub fn get(&self, field: usize) -> Option<Val<'a>> {
        self.slots[field].map(|(_, v)| v)
    }
}

pub fn any_value(buf: &[u8]) -> Res<Val<'_>> {
    let mut r = Reader::new(buf);
    let mut out = Val::Empty;
    let mut known = 0;
    while let Some((number, field)) = r.next()? {
        let v = match (number, field) {
            (1, Field::Len(b)) => Val::Str(utf8(b)?),
            (2, Field::Varint(_)) => Val::Bool,
            (3, Field::Varint(x)) => Val::Int(x as i64),
            (4, Field::Fixed64(x)) => Val::Double(f64::from_bits(x)),
            (5, Field::Len(b)) => {
                validate(b, Schema::ArrayValue, 1)?;
                Val::Array(b)
            }
            (6, Field::Len(b)) => {
                validate(b, Schema::KvList, 1)?;
                Val::Other
            }
            (7, Field::Len(_)) => Val::Other,
            (1..=7, _) => return Err(Bail("unexpected wire type in AnyValue")),
            _ => continue,
        };
        known += 1;
        if known > 1 {
            return Err(Bail("AnyValue with more than one value"));
        }
        out = v;
    }
    Ok(out)
}

/// Read one KeyValue into `fields` if its key is in the table.
pub fn key_value<'a>(buf: &'a [u8], table: &Table, fields: &mut Fields<'a>) -> Res<()> {
    let mut r = Reader::new(buf);
    let mut key: Option<&[u8]> = None;
    let mut value: Option<&'a [u8]> = None;
    while let Some((number, field)) = r.next()? {
        match (number, field) {
            // upb checks the UTF-8 of a key it then overwrites; leave that to it.
            (1, Field::Len(_)) if key.is_some() => {
                return Err(Bail("KeyValue with two keys"));
            }
            (1, Field::Len(b)) => key = Some(b),
            (2, Field::Len(_)) if value.is_some() => {
                return Err(Bail("KeyValue with two values"));
            }
            (2, Field::Len(b)) => value = Some(b),
            (1 | 2, _) => return Err(Bail("unexpected wire type in KeyValue")),
            _ => {}
        }
    }
    let key = key.unwrap_or(b"");
    let Some(entry) = table.get(key) else {
        utf8(key)?; // the table's keys are valid UTF-8 already
        if let Some(v) = value {
            validate(v, Schema::AnyValue, 1)?;
        }
        return Ok(());
    };
    fields.flags |= entry.flags;
    let v = match value {
        Some(b) => any_value(b)?,
        None => Val::Empty,
    };
    for &(field, rank) in &entry.targets {
        match fields.slots[field] {
            Some((have, _)) if have <= rank => {}
            _ => fields.slots[field] = Some((rank, v)),
        }
    }
    Ok(())
}

/// The strings of an ArrayValue, or None if any element is not a string.
pub fn string_array(buf: &[u8]) -> Res<Option<Vec<&str>>> {
    let mut r = Reader::new(buf);
    let mut out = Vec::new();
    while let Some((number, field)) = r.next()? {
        match (number, field) {
            (1, Field::Len(b)) => match any_value(b)? {
                Val::Str(s) => out.push(s),
                _ => return Ok(None),
            },
            (1, _) => return Err(Bail("unexpected wire type in ArrayValue")),
            _ => {}
        }
    }
    Ok(Some(out))
}
