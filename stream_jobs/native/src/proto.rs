//! A minimal protobuf wire reader for the OTLP trace messages.
//!
//! It is deliberately strict: anything that the reference decoder (upb) would
//! treat in a way this reader does not copy exactly (a singular message field
//! given twice, which protobuf merges; invalid UTF-8; a malformed nested
//! message) makes it give up on the whole Kafka message with `Bail`, and the
//! Python reference path decides. So the fast path never disagrees with it.

/// Why the fast path gave up on a message; the Python path takes it over.
#[derive(Debug)]
pub struct Bail(pub &'static str);

pub type Res<T> = Result<T, Bail>;

pub const VARINT: u8 = 0;
pub const FIXED64: u8 = 1;
pub const LEN: u8 = 2;
pub const FIXED32: u8 = 5;

/// One field as read off the wire.
pub enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32,
}

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    #[inline]
    fn varint(&mut self) -> Res<u64> {
        let mut out: u64 = 0;
        for i in 0..10 {
            let b = *self.buf.get(self.pos).ok_or(Bail("truncated varint"))?;
            self.pos += 1;
            out |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(out);
            }
        }
        Err(Bail("varint longer than 10 bytes"))
    }

    #[inline]
    fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(Bail("length overflow"))?;
        let s = self.buf.get(self.pos..end).ok_or(Bail("truncated field"))?;
        self.pos = end;
        Ok(s)
    }

    /// The next (field number, value), or None at the end of the buffer.
    #[inline]
    pub fn next(&mut self) -> Res<Option<(u32, Field<'a>)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let number = u32::try_from(tag >> 3).map_err(|_| Bail("field number too large"))?;
        if number == 0 {
            return Err(Bail("field number 0"));
        }
        let field = match (tag & 7) as u8 {
            VARINT => Field::Varint(self.varint()?),
            FIXED64 => {
                let b = self.take(8)?;
                Field::Fixed64(u64::from_le_bytes(b.try_into().expect("8 bytes")))
            }
            LEN => {
                let n = usize::try_from(self.varint()?).map_err(|_| Bail("length overflow"))?;
                Field::Len(self.take(n)?)
            }
            FIXED32 => {
                self.take(4)?;
                Field::Fixed32
            }
            _ => return Err(Bail("group or invalid wire type")),
        };
        Ok(Some((number, field)))
    }
}

pub fn utf8(b: &[u8]) -> Res<&str> {
    std::str::from_utf8(b).map_err(|_| Bail("invalid UTF-8 in a string field"))
}

/// What a field of a message we only validate holds.
#[derive(Clone, Copy)]
pub enum Kind {
    Str,
    Bytes,
    Varint,
    Fixed64,
    Fixed32,
    Msg(Schema),
}

/// The messages that the fast path walks without using (events, links, scope).
#[derive(Clone, Copy)]
pub enum Schema {
    Event,
    Link,
    Scope,
    KeyValue,
    AnyValue,
    ArrayValue,
    KvList,
    Status,
}

fn kind_of(schema: Schema, number: u32) -> Option<Kind> {
    use Kind::*;
    match (schema, number) {
        (Schema::Event, 1) => Some(Fixed64),
        (Schema::Event, 2) => Some(Str),
        (Schema::Event, 3) => Some(Msg(Schema::KeyValue)),
        (Schema::Event, 4) => Some(Varint),
        (Schema::Link, 1 | 2) => Some(Bytes),
        (Schema::Link, 3) => Some(Str),
        (Schema::Link, 4) => Some(Msg(Schema::KeyValue)),
        (Schema::Link, 5) => Some(Varint),
        (Schema::Link, 6) => Some(Fixed32),
        (Schema::Scope, 1 | 2) => Some(Str),
        (Schema::Scope, 3) => Some(Msg(Schema::KeyValue)),
        (Schema::Scope, 4) => Some(Varint),
        (Schema::KeyValue, 1) => Some(Str),
        (Schema::KeyValue, 2) => Some(Msg(Schema::AnyValue)),
        (Schema::AnyValue, 1) => Some(Str),
        (Schema::AnyValue, 2 | 3) => Some(Varint),
        (Schema::AnyValue, 4) => Some(Fixed64),
        (Schema::AnyValue, 5) => Some(Msg(Schema::ArrayValue)),
        (Schema::AnyValue, 6) => Some(Msg(Schema::KvList)),
        (Schema::AnyValue, 7) => Some(Bytes),
        (Schema::ArrayValue, 1) => Some(Msg(Schema::AnyValue)),
        (Schema::KvList, 1) => Some(Msg(Schema::KeyValue)),
        (Schema::Status, 2) => Some(Str),
        (Schema::Status, 3) => Some(Varint),
        _ => None,
    }
}

/// Walk a message the way upb would parse it, checking wire types and UTF-8.
pub fn validate(buf: &[u8], schema: Schema, depth: u32) -> Res<()> {
    if depth > 48 {
        return Err(Bail("nesting deeper than the fast path follows"));
    }
    let mut r = Reader::new(buf);
    while let Some((number, field)) = r.next()? {
        match (kind_of(schema, number), field) {
            (None, _) => {}
            (Some(Kind::Str), Field::Len(b)) => {
                utf8(b)?;
            }
            (Some(Kind::Bytes), Field::Len(_)) => {}
            (Some(Kind::Varint), Field::Varint(_)) => {}
            (Some(Kind::Fixed64), Field::Fixed64(_)) => {}
            (Some(Kind::Fixed32), Field::Fixed32) => {}
            (Some(Kind::Msg(s)), Field::Len(b)) => validate(b, s, depth + 1)?,
            _ => return Err(Bail("unexpected wire type for a known field")),
        }
    }
    Ok(())
}
