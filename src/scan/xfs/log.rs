//! The clean-log proof: the kernel mounts without replaying anything only when the last log
//! record before the head is an unmount record on its own (`xlog_find_head`, then
//! `xlog_check_unmount_rec`). Blockprint demands a stricter picture than the kernel's search:
//!
//! - Every 512-byte log block carries the cycle number of the pass that wrote it (a record
//!   header in its second word, after the magic 0xFEEDBABE; every other block in its first).
//!   All of them are read: they must be cycle `c` from the start up to the head and `c - 1`
//!   from there to the end (or `c` throughout). On such a log every way of searching for the
//!   head finds the same block; torn writes, holes or stray cycles are refused.
//! - The last record header before the head must end exactly at the head, belong to cycle
//!   `c`, carry this filesystem's uuid and a matching LSN, hold exactly one operation, and
//!   that operation must be the log's own (client 0xAA) with the unmount flag. On v5 its
//!   checksum is verified when set (mkfs leaves it zero; the kernel does not check it here).
//!
//! A record that wraps around the end of the log, or anything else unusual, is refused:
//! refusing costs only time.

use super::{Check, Fields, Geometry, crc32c, read};
use crate::source::RandomAccess;

/// First word of every log record header.
const MAGIC: u32 = 0xFEED_BABE;
/// The log's unit: cycle numbers are stamped on every 512-byte block.
const BB: u64 = 512;
/// How much log is read at a time.
const CHUNK: u64 = 4 << 20;
/// The largest log record the kernel writes (`XLOG_MAX_RECORD_BSIZE`).
const MAX_RECORD: u64 = 256 << 10;
/// Bytes of record data whose first words one header block saves (`XLOG_HEADER_CYCLE_SIZE`).
const CYCLE_SPAN: u64 = 32 << 10;
/// Operation header: the log's own client id, and the unmount flag.
const CLIENT_LOG: u8 = 0xAA;
const UNMOUNT_TRANS: u8 = 0x20;

/// Proves the internal log clean, or says why it could not.
pub(super) fn prove_clean(region: &dyn RandomAccess, geo: &Geometry) -> Check<String> {
    find_unmount_record(region, geo)
        .map_err(|why| format!("the log could not be proven clean: {why}"))
}

fn find_unmount_record(region: &dyn RandomAccess, geo: &Geometry) -> Check<String> {
    let blocks = geo.log_len / BB;
    let mut first_cycle: Option<u32> = None;
    let mut head: Option<u64> = None;
    let mut last_header: Option<u64> = None;
    let mut done = 0;
    while done < geo.log_len {
        let len = CHUNK.min(geo.log_len - done);
        let chunk = read(region, geo.log_start + done, len, "log")?;
        for (i, bb) in chunk.chunks_exact(BB as usize).enumerate() {
            let index = done / BB + i as u64;
            let word = u32::from_be_bytes([bb[0], bb[1], bb[2], bb[3]]);
            let cycle = if word == MAGIC {
                u32::from_be_bytes([bb[4], bb[5], bb[6], bb[7]])
            } else {
                word
            };
            let current = *first_cycle.get_or_insert(cycle);
            match head {
                None if cycle == current => {
                    if word == MAGIC {
                        last_header = Some(index);
                    }
                }
                None if current > 0 && cycle == current - 1 => head = Some(index),
                Some(_) if cycle == current.wrapping_sub(1) => {}
                _ => {
                    return Err(format!(
                        "log block {index} has cycle {cycle}, out of place in a log written up to cycle {current}"
                    ));
                }
            }
        }
        done += len;
    }
    let cycle = first_cycle.ok_or("the log is empty")?;
    if cycle == 0 {
        return Err("the log was never written (cycle 0)".into());
    }
    let head = head.unwrap_or(blocks);
    let record = last_header
        .ok_or("no record header before the head (the last record wraps around the log's end)")?;
    check_unmount_record(region, geo, cycle, record, head)
}

/// The record at log block `record` must be a lone unmount record ending at `head`.
fn check_unmount_record(
    region: &dyn RandomAccess,
    geo: &Geometry,
    cycle: u32,
    record: u64,
    head: u64,
) -> Check<String> {
    let at = geo.log_start + record * BB;
    let first = read(region, at, BB, "log record header")?;
    let f = Fields(&first);
    let version = f.u32(8)?;
    let len = u64::from(f.u32(12)?);
    let size = u64::from(f.u32(320)?);
    if f.u32(0)? != MAGIC || f.u32(4)? != cycle || !(version == 1 || (version == 2 && geo.log_v2)) {
        return Err(format!(
            "the record header at log block {record} is not valid"
        ));
    }
    if len == 0 || len > MAX_RECORD || size > MAX_RECORD {
        return Err(format!(
            "the record at log block {record} has a length of {len} bytes"
        ));
    }
    if f.u64(16)? != (u64::from(cycle) << 32 | record) {
        return Err(format!(
            "the record at log block {record} carries another LSN"
        ));
    }
    if f.take::<16>(304)? != geo.uuid {
        return Err(format!(
            "the record at log block {record} belongs to another filesystem"
        ));
    }
    let operations = f.u32(40)?;
    if operations != 1 {
        return Err(format!(
            "the last record (log block {record}) holds {operations} operations, not a lone unmount record"
        ));
    }
    let header_blocks = if version == 2 && size > CYCLE_SPAN {
        size.div_ceil(CYCLE_SPAN)
    } else {
        1
    };
    let end = record + header_blocks + len.div_ceil(BB);
    if end != head {
        return Err(format!(
            "the last record (log block {record}) ends at log block {end}, not at the head ({head})"
        ));
    }
    let whole = read(region, at, (end - record) * BB, "log record")?;
    let header_len = usize::try_from(header_blocks * BB).map_err(|_| "record too large")?;
    let data = whole.get(header_len..).ok_or("record too short")?;
    let stored_crc = u32::from_le_bytes(f.take::<4>(32)?);
    let checksum = match (geo.v5, stored_crc) {
        (false, _) => "v4: no checksum",
        (true, 0) => "no checksum set, as mkfs writes it",
        (true, _) if crc_matches(&whole, data, len, stored_crc) => "checksum verified",
        (true, _) => {
            return Err(format!(
                "the record at log block {record} has a wrong checksum"
            ));
        }
    };
    // The first word of the data block was overwritten by the cycle number (its original is
    // kept in the header); the length, client id and flags after it are as written.
    let op = Fields(data);
    let (op_len, client, flags) = (u64::from(op.u32(4)?), op.u8(8)?, op.u8(9)?);
    if client != CLIENT_LOG || flags & UNMOUNT_TRANS == 0 || 12 + op_len > len {
        return Err(format!(
            "the last record (log block {record}) is not an unmount record (client {client:#x}, flags {flags:#x})"
        ));
    }
    Ok(format!(
        "internal log of {} bytes at byte {}: clean, its last record (log block {record}, cycle {cycle}) is a lone unmount record ({checksum})",
        geo.log_len, geo.log_start
    ))
}

/// The record checksum (`xlog_cksum`): the header structure with the checksum zeroed, the
/// extended headers that cycle data of `len` bytes needs, then the data. The header structure
/// is 328 bytes where 64-bit integers are 8-byte aligned and 324 on i386, so both are tried.
fn crc_matches(whole: &[u8], data: &[u8], len: u64, stored: u32) -> bool {
    let Some(data) = usize::try_from(len).ok().and_then(|len| data.get(..len)) else {
        return false;
    };
    let extended = len.div_ceil(CYCLE_SPAN).saturating_sub(1);
    [328usize, 324].into_iter().any(|header| {
        let Some(head) = whole
            .get(..header)
            .and_then(|h| crc32c::with_field_zeroed(h, 32))
        else {
            return false;
        };
        // Continue the running checksum: undo the final inversion of `with_field_zeroed`.
        let mut crc = crc32c::Crc32c::resume(head);
        for i in 1..=extended {
            let start = usize::try_from(i * BB).unwrap_or(usize::MAX);
            match whole.get(start..start.saturating_add(260)) {
                Some(ext) => crc.update(ext),
                None => return false,
            }
        }
        crc.update(data);
        crc.finish() == stored
    })
}
