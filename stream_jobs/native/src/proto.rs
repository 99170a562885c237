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
#[derive(Debug, PartialEq)]
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
        let start = self.pos;
        let tag = self.varint()?;
        // upb takes a tag of at most 5 bytes and 32 bits, and rejects the message
        // otherwise; reading it here would keep rows that Python dead-letters.
        if tag > u64::from(u32::MAX) || self.pos - start > 5 {
            return Err(Bail("tag longer than 5 bytes or wider than 32 bits"));
        }
        let number = (tag >> 3) as u32;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
        out
    }

    fn tag(number: u64, wire: u8) -> Vec<u8> {
        varint(number << 3 | u64::from(wire))
    }

    fn len_field(number: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = tag(number, LEN);
        out.extend(varint(payload.len() as u64));
        out.extend_from_slice(payload);
        out
    }

    fn str_field(number: u64, s: &str) -> Vec<u8> {
        len_field(number, s.as_bytes())
    }

    /// Every field of `buf`, or why the reader gave up.
    fn fields(buf: &[u8]) -> Res<Vec<(u32, Field<'_>)>> {
        let mut r = Reader::new(buf);
        let mut out = Vec::new();
        while let Some(f) = r.next()? {
            out.push(f);
        }
        Ok(out)
    }

    fn why<T: std::fmt::Debug>(res: Res<T>) -> &'static str {
        res.expect_err("the reader should give up").0
    }

    fn one_varint(bytes: &[u8]) -> Res<u64> {
        Reader::new(bytes).varint()
    }

    #[test]
    fn empty_input_has_no_fields_and_is_valid() {
        assert!(Reader::new(b"").next().unwrap().is_none());
        for schema in [Schema::Event, Schema::Link, Schema::Scope, Schema::KeyValue] {
            assert!(validate(b"", schema, 1).is_ok());
        }
        assert_eq!(
            fields(&len_field(1, b"")).unwrap(),
            vec![(1, Field::Len(b""))]
        );
    }

    #[test]
    fn varints_of_one_to_ten_bytes() {
        for v in [0, 1, 127, 128, 300, 1 << 35, u64::from(u32::MAX), u64::MAX] {
            let bytes = varint(v);
            let mut r = Reader::new(&bytes);
            assert_eq!(r.varint().unwrap(), v);
            assert_eq!(r.pos, bytes.len());
        }
        assert_eq!(varint(u64::MAX).len(), 10);
        assert_eq!(one_varint(&[0xAC, 0x02]).unwrap(), 300);
    }

    #[test]
    fn a_varint_longer_than_ten_bytes_is_refused() {
        let mut eleven = vec![0xFF; 10];
        eleven.push(0x01);
        assert_eq!(why(one_varint(&eleven)), "varint longer than 10 bytes");
        let mut padded = vec![0x80; 10]; // zero, padded past ten bytes
        padded.push(0x00);
        assert_eq!(why(one_varint(&padded)), "varint longer than 10 bytes");
        // A padded zero of exactly ten bytes is still a varint.
        let mut ten = vec![0x80; 9];
        ten.push(0x00);
        assert_eq!(one_varint(&ten).unwrap(), 0);
    }

    #[test]
    fn the_tenth_byte_keeps_only_bit_63_as_upb_does() {
        // upb adds the bits past 64 away (wrapping) and accepts the varint.
        let mut ten = vec![0xFF; 9];
        ten.push(0x7F);
        assert_eq!(one_varint(&ten).unwrap(), u64::MAX);
        let mut high_only = vec![0x80; 9];
        high_only.push(0x7E); // bit 63 clear, the rest of the byte overflows
        assert_eq!(one_varint(&high_only).unwrap(), 0);
    }

    #[test]
    fn a_truncated_varint_is_refused() {
        assert_eq!(why(one_varint(&[])), "truncated varint");
        assert_eq!(why(one_varint(&[0x80])), "truncated varint");
        assert_eq!(why(one_varint(&[0xFF; 9])), "truncated varint");
        let mut buf = tag(3, VARINT);
        buf.push(0x96); // the value's continuation bit, then the end
        assert_eq!(why(fields(&buf)), "truncated varint");
        assert_eq!(why(fields(&[0x88])), "truncated varint"); // a tag cut short
    }

    #[test]
    fn tags_as_upb_reads_them() {
        // Padded to 5 bytes, still field 100 (upb accepts).
        let five = [0xA0, 0x86, 0x80, 0x80, 0x00, 0x01];
        assert_eq!(fields(&five).unwrap(), vec![(100, Field::Varint(1))]);
        // The largest field number protobuf allows.
        let mut max = tag((1 << 29) - 1, VARINT);
        max.push(0x01);
        assert_eq!(
            fields(&max).unwrap(),
            vec![((1 << 29) - 1, Field::Varint(1))]
        );
        // upb rejects a tag of 6 bytes or above 32 bits: so must the reader.
        let six = [0xA0, 0x86, 0x80, 0x80, 0x80, 0x00, 0x01];
        let too_wide = [varint(1 << 32), vec![0x01]].concat();
        for buf in [&six[..], &too_wide[..]] {
            assert_eq!(
                why(fields(buf)),
                "tag longer than 5 bytes or wider than 32 bits"
            );
        }
        assert_eq!(why(fields(&[0x00, 0x01])), "field number 0");
        assert_eq!(why(fields(&[0x02, 0x00])), "field number 0");
    }

    #[test]
    fn each_wire_type_is_read_and_groups_are_refused() {
        let mut buf = tag(1, VARINT);
        buf.extend(varint(150));
        buf.extend(tag(2, FIXED64));
        buf.extend(7u64.to_le_bytes());
        buf.extend(str_field(3, "hi"));
        buf.extend(tag(4, FIXED32));
        buf.extend(9u32.to_le_bytes());
        assert_eq!(
            fields(&buf).unwrap(),
            vec![
                (1, Field::Varint(150)),
                (2, Field::Fixed64(7)),
                (3, Field::Len(b"hi")),
                (4, Field::Fixed32),
            ]
        );
        // Groups (3, 4) are left to upb; 6 and 7 are no wire type at all.
        for wire in [3, 4, 6, 7] {
            assert_eq!(why(fields(&tag(100, wire))), "group or invalid wire type");
        }
    }

    #[test]
    fn a_field_running_past_the_buffer_is_refused() {
        let mut short = tag(1, LEN);
        short.extend(varint(5));
        short.extend_from_slice(b"abcd");
        assert_eq!(why(fields(&short)), "truncated field");
        let mut huge = tag(1, LEN);
        huge.extend(varint(u64::MAX));
        assert_eq!(why(fields(&huge)), "length overflow");
        let mut fixed64 = tag(1, FIXED64);
        fixed64.extend_from_slice(&[0; 7]);
        assert_eq!(why(fields(&fixed64)), "truncated field");
        let mut fixed32 = tag(1, FIXED32);
        fixed32.extend_from_slice(&[0; 3]);
        assert_eq!(why(fields(&fixed32)), "truncated field");
        // A nested message whose field runs past its own end, though the outer
        // buffer has the bytes: the inner reader does not read into them.
        let mut inner = tag(1, LEN);
        inner.extend(varint(3));
        let outer = [len_field(3, &inner), str_field(9, "abc")].concat();
        let read = fields(&outer).unwrap();
        assert_eq!(read[1], (9, Field::Len(b"abc")));
        let (_, Field::Len(nested)) = read[0] else {
            panic!("a length-delimited field");
        };
        assert_eq!(why(fields(nested)), "truncated field");
        assert_eq!(why(validate(&outer, Schema::Event, 1)), "truncated field");
    }

    #[test]
    fn unknown_fields_of_any_wire_type_are_skipped() {
        let mut event = Vec::new();
        event.extend(tag(99, VARINT));
        event.extend(varint(u64::MAX));
        event.extend(tag(98, FIXED64));
        event.extend([0xFF; 8]);
        event.extend(len_field(97, b"\xFF\xFE not UTF-8, not looked at"));
        event.extend(tag(96, FIXED32));
        event.extend([0xFF; 4]);
        event.extend(str_field(2, "event name"));
        assert!(validate(&event, Schema::Event, 1).is_ok());
    }

    #[test]
    fn a_known_field_with_the_wrong_wire_type_is_refused() {
        let mut event = tag(1, VARINT); // time_unix_nano is fixed64
        event.push(0x01);
        assert_eq!(
            why(validate(&event, Schema::Event, 1)),
            "unexpected wire type for a known field"
        );
        let mut status = tag(2, FIXED32); // message is a string
        status.extend([0; 4]);
        assert_eq!(
            why(validate(&status, Schema::Status, 1)),
            "unexpected wire type for a known field"
        );
    }

    fn key_value(key: &[u8], value: &[u8]) -> Vec<u8> {
        [len_field(1, key), len_field(2, value)].concat()
    }

    #[test]
    fn strings_must_be_utf8_and_bytes_need_not_be() {
        assert_eq!(utf8("é".as_bytes()).unwrap(), "é");
        for bad in [&b"\xFF"[..], b"\xC3", b"\xED\xA0\x80", b"\xC0\x80"] {
            assert_eq!(why(utf8(bad)), "invalid UTF-8 in a string field");
        }
        // Event.name is a string; Link.trace_id is bytes.
        assert!(validate(&len_field(2, b"\xFF"), Schema::Event, 1).is_err());
        assert!(validate(&len_field(1, b"\xFF\x00"), Schema::Link, 1).is_ok());
        // AnyValue.bytes_value is bytes, AnyValue.string_value a string.
        assert!(validate(&len_field(7, b"\xFF"), Schema::AnyValue, 1).is_ok());
        assert!(validate(&len_field(1, b"\xFF"), Schema::AnyValue, 1).is_err());
        assert!(validate(&key_value(b"k\xFF", b""), Schema::KeyValue, 1).is_err());
    }

    #[test]
    fn nested_messages_are_checked_all_the_way_down() {
        let good = len_field(1, "ok".as_bytes());
        let bad = len_field(1, b"\xFF");
        // Event > attributes (KeyValue) > value (AnyValue) > array > AnyValue.
        let event = |leaf: &[u8]| {
            let array = len_field(1, leaf);
            let value = len_field(5, &array);
            len_field(3, &key_value(b"k", &value))
        };
        assert!(validate(&event(&good), Schema::Event, 1).is_ok());
        assert_eq!(
            why(validate(&event(&bad), Schema::Event, 1)),
            "invalid UTF-8 in a string field"
        );
        // A key-value list inside an AnyValue.
        let kvlist = len_field(6, &len_field(1, &key_value(b"k", &bad)));
        assert!(validate(&kvlist, Schema::AnyValue, 1).is_err());
    }

    #[test]
    fn nesting_deeper_than_48_is_left_to_upb() {
        // AnyValue > ArrayValue > AnyValue > ... : one level per message.
        let nest = |levels: u32| {
            let mut msg = Vec::new(); // the innermost message, empty
            for level in (1..levels).rev() {
                let number = if level % 2 == 1 { 5 } else { 1 };
                msg = len_field(number, &msg);
            }
            msg
        };
        assert!(validate(&nest(48), Schema::AnyValue, 1).is_ok());
        assert_eq!(
            why(validate(&nest(49), Schema::AnyValue, 1)),
            "nesting deeper than the fast path follows"
        );
    }
}
