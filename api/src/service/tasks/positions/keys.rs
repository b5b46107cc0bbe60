//! Manual order's keys: made between two others, or stepped at either end
//! of a list, or spaced evenly when a list is compacted.
//!
//! Between two siblings the crate makes the key. At either end of a list
//! (`after`, `before`) the key is the neighbour's read as a base-255 counter
//! (bytes 0x01 to 0xff) plus or minus a step of 1 to 4096 taken from the
//! placed task's id, widened when it runs out: keys stay the same length for
//! many appends, where the crate's own grow by a byte every 127, and two
//! tasks appended at once get two keys but for one chance in 4096 (then
//! their ids break the tie).
//! A key that would grow past `MAX_KEY_CHARS` (or could not be made: two
//! equal keys, one that is not a key) is not written: the list is compacted
//! instead, all its keys rewritten evenly in the same transaction, each task
//! whose key changed with its own version and event.
//!
//! The crate subtracts one from a byte of the upper key without checking
//! for 0 (it panics, or in a release build yields a key out of order, when
//! both keys share a 0x00 byte), so no key written here holds a 0x00 byte:
//! one the crate makes with it counts as too long.

use fractional_index::FractionalIndex;
use sea_orm::prelude::Uuid;

/// Past this many characters a key is not written: its list is compacted.
pub(crate) const MAX_KEY_CHARS: usize = 32;

/// Compacted keys leave this much room between neighbours: eight halvings
/// before a key between two of them grows.
const SPACING: u64 = 256;
/// The digits of a compacted key: bytes 0x01 to 0xff (never 0x00).
const DIGITS: u64 = 255;

fn decode(key: &str) -> Option<FractionalIndex> {
    let hex =
        key.len().is_multiple_of(2) && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !hex {
        return None;
    }
    let index = FractionalIndex::from_string(key).ok()?;
    (!index.as_bytes().contains(&0)).then_some(index)
}

/// A key for the task `id` strictly between `lower` and `upper` (none: the
/// list's start or end), if one of at most `MAX_KEY_CHARS` without a 0x00
/// byte exists: at an end, the neighbour's counter stepped (`step`).
pub(crate) fn key_between(lower: Option<&str>, upper: Option<&str>, id: Uuid) -> Option<String> {
    let step = step_of(id);
    match (lower, upper) {
        (Some(lower), None) => stepped(lower, step, true),
        (None, Some(upper)) => stepped(upper, step, false),
        _ => between(lower, upper),
    }
}

/// 1 to 4096, from the id's last (random) bits.
fn step_of(id: Uuid) -> u64 {
    let bytes = id.as_bytes();
    1 + u64::from(u16::from_be_bytes([bytes[14], bytes[15]]) % 4096)
}

/// A key after (`up`) or before `key`: its digits (all but the terminator)
/// as a base-255 number, plus or minus `step`. When that runs out of
/// digits, the key is widened first: `key`'s digits, then 0x81 and 0x01s
/// (after; 0x7f and 0xffs before) as many as it had, at least one, which
/// sorts right after (before) `key` and leaves room for many more steps.
fn stepped(key: &str, step: u64, up: bool) -> Option<String> {
    let index = decode(key)?;
    let bytes = index.as_bytes();
    let mut digits = bytes[..bytes.len() - 1].to_vec();
    if !add(&mut digits, step, up) {
        let width = digits.len().max(1);
        digits.push(if up { 0x81 } else { 0x7f });
        digits.extend(std::iter::repeat_n(if up { 0x01 } else { 0xff }, width));
        if !add(&mut digits, step, up) {
            return None;
        }
    }
    let mut key: String = digits.iter().map(|d| format!("{d:02x}")).collect();
    key.push_str("80");
    (key.len() <= MAX_KEY_CHARS).then_some(key)
}

/// Adds (or subtracts) `step` to `digits` read as a base-255 number, each
/// byte 0x01 to 0xff one digit; false, and `digits` unchanged, when the
/// result does not fit.
fn add(digits: &mut [u8], step: u64, up: bool) -> bool {
    let mut out = digits.to_vec();
    let mut carry = step;
    for digit in out.iter_mut().rev() {
        if carry == 0 {
            break;
        }
        let value = u64::from(digit.saturating_sub(1));
        let (next, rest) = if up {
            let sum = value + carry;
            (sum % 255, sum / 255)
        } else {
            let borrow = carry.div_ceil(255) * 255;
            let diff = value + borrow - carry;
            // `borrow` is a multiple of 255 at least `carry`: what is left
            // over is borrowed from the next digit.
            (diff % 255, borrow / 255 - diff / 255)
        };
        *digit = next as u8 + 1;
        carry = rest;
    }
    if carry > 0 {
        return false;
    }
    digits.copy_from_slice(&out);
    true
}

/// A key strictly between `lower` and `upper` (the crate's), if one of at
/// most `MAX_KEY_CHARS` without a 0x00 byte exists.
fn between(lower: Option<&str>, upper: Option<&str>) -> Option<String> {
    let lower = lower.map(decode).map_or(Some(None), |k| k.map(Some))?;
    let upper = upper.map(decode).map_or(Some(None), |k| k.map(Some))?;
    let key = FractionalIndex::new(lower.as_ref(), upper.as_ref())?;
    if key.as_bytes().contains(&0) {
        return None;
    }
    let key = key.to_string();
    (key.len() <= MAX_KEY_CHARS).then_some(key)
}

/// `n` keys, evenly spaced and all of one length: 0x81, digits 0x01 to 0xff,
/// then the terminator (what the migration gives existing rows, in four
/// digits). The lead 0x81 keeps the keys before the first and after the
/// last short: `80` and `82 80`.
pub(crate) fn spaced(n: usize) -> Vec<String> {
    let n = n as u64;
    let needed = (n + 1).saturating_mul(SPACING);
    let mut width = 2_u32;
    while DIGITS.checked_pow(width).is_some_and(|room| room <= needed) {
        width += 1;
    }
    (1..=n)
        .map(|rank| {
            let mut value = rank * SPACING;
            let mut digits = vec![0_u8; width as usize];
            for digit in digits.iter_mut().rev() {
                *digit = (value % DIGITS) as u8 + 1;
                value /= DIGITS;
            }
            let mut key = "81".to_owned();
            key.extend(digits.iter().map(|d| format!("{d:02x}")));
            key.push_str("80");
            key
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaced_keys_sort_and_leave_room() {
        for n in [0, 1, 2, 10, 254, 255, 300, 70_000] {
            let keys = spaced(n);
            assert_eq!(keys.len(), n);
            assert!(keys.windows(2).all(|w| w[0] < w[1]), "{n}");
            for pair in keys.windows(2) {
                let mid = between(Some(&pair[0]), Some(&pair[1])).expect("room");
                assert!(pair[0] < mid && mid < pair[1]);
            }
            if let Some(last) = keys.last() {
                assert!(decode(last).is_some());
                let id = Uuid::now_v7();
                assert!(key_between(Some(last), None, id).is_some_and(|k| k > *last));
                assert!(key_between(None, keys.first().map(String::as_str), id).is_some());
            }
        }
        // What the migration writes for existing rows.
        assert_eq!(spaced(1), vec!["81020280".to_owned()]);
        // The migration's keys (four digits) take keys between them too.
        let mid = between(Some("810101020280"), Some("810101030380")).expect("room");
        assert!("810101020280" < mid.as_str() && mid.as_str() < "810101030380");
    }

    #[test]
    fn keys_at_the_ends_keep_their_length_for_many_steps() {
        let id = Uuid::now_v7();
        for (start, up) in [
            (None, true),
            (Some("81020280"), true),
            (Some("81020280"), false),
        ] {
            let mut key = start.map(str::to_owned);
            let mut longest = 0;
            for i in 0..20_000u128 {
                // Every step size equally often, the same in every run: the
                // random bits of `now_v7` ids depend on how many are made per
                // millisecond, which made this test fail now and then.
                let id = Uuid::from_u128(i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835));
                let next = if up {
                    key_between(key.as_deref(), None, id)
                } else {
                    key_between(None, key.as_deref(), id)
                }
                .expect("a key");
                assert!(decode(&next).is_some(), "{next}");
                if let Some(key) = &key {
                    assert!((up && next > *key) || (!up && next < *key), "{key} {next}");
                }
                longest = longest.max(next.len());
                key = Some(next);
            }
            assert!(longest <= 16, "{start:?} up {up}: {longest}");
        }
        // Two tasks placed at one end at once: two keys, unless their steps meet.
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_ne!(
            key_between(Some("8180"), None, a),
            key_between(Some("8180"), None, b)
        );
        assert!(key_between(Some("81ffff80"), None, id).is_some_and(|k| k.as_str() > "81ffff80"));
        assert!(key_between(None, Some("81010180"), id).is_some_and(|k| k.as_str() < "81010180"));
    }

    #[test]
    fn repeated_moves_into_one_spot_grow_the_key_until_compaction() {
        let (low, high) = ("8180".to_owned(), "8280".to_owned());
        let mut upper = high;
        let mut moves = 0;
        while let Some(key) = between(Some(&low), Some(&upper)) {
            assert!(low < key && key < upper);
            upper = key;
            moves += 1;
        }
        assert!(moves > 20, "{moves}");
        assert!(between(Some("80"), Some("80")).is_none());
        assert!(between(Some("zz"), None).is_none());
    }
}
