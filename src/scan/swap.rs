//! Linux swap: everything but the first page is free.
//!
//! ```text
//!  page 0: boot bits │ header at 1024 (version, last_page, bad pages, UUID, label) │ signature
//!  pages 1..=last_page: swapped-out memory, meaningless once the system is off  → free
//!  past last_page: not proven swap                                              → mapped
//! ```
//!
//! The signature "SWAPSPACE2" ends the first page, whose size is the creating system's page
//! size: 4 KiB, 16 KiB or 64 KiB (arm64, ppc64). Hibernation replaces the signature (and
//! keeps the original just before it, at pagesize − 20): such a swap area holds a memory
//! image the next boot resumes from, so it is mapped whole, as is the obsolete v0 format.

#[cfg(test)]
mod tests;

use super::fs::{Found, Parser, Verdict};
use crate::source::RandomAccess;

/// The swap parser.
pub(crate) const PARSER: Parser = Parser {
    name: "swap",
    detect,
    scan,
};

const PAGE_SIZES: [u64; 3] = [4096, 16384, 65536];
const SWAP: &[u8; 10] = b"SWAPSPACE2";
const SWAP_V0: &[u8; 10] = b"SWAP-SPACE";
/// Signatures written in place of SWAPSPACE2 by hibernation: swsusp (old and new kernels),
/// uswsusp, and the kernel's current one.
const HIBERNATION: [&[u8]; 4] = [b"S1SUSPEND", b"S2SUSPEND", b"ULSUSPEND", b"LINHIB0001"];
/// TuxOnIce's hibernation header, at the very start of the swap area.
const TUXONICE: [u8; 8] = [0xED, 0xC3, 0x02, 0xE9, 0x98, 0x56, 0xE5, 0x0C];

/// What ends a candidate first page.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Signature {
    Swap,
    SwapV0,
    Hibernation(String),
}

/// The signatures found, with their page size.
fn signatures(region: &dyn RandomAccess) -> Vec<(u64, Signature)> {
    let mut found = Vec::new();
    for page in PAGE_SIZES {
        let mut tail = [0u8; 20];
        if region.read_exact_at(page - 20, &mut tail).is_err() {
            break;
        }
        let (original, sig) = tail.split_at(10);
        let signature = if sig == SWAP {
            Signature::Swap
        } else if sig == SWAP_V0 {
            Signature::SwapV0
        } else if let Some(h) = HIBERNATION.iter().find(|h| sig.starts_with(h)) {
            Signature::Hibernation(String::from_utf8_lossy(h).into_owned())
        } else if original == SWAP {
            // The kernel's hibernation header keeps the swap signature it replaced here.
            Signature::Hibernation(format!("{:?}", String::from_utf8_lossy(sig)))
        } else {
            continue;
        };
        found.push((page, signature));
    }
    found
}

fn tuxonice(region: &dyn RandomAccess) -> bool {
    let mut head = [0u8; 8];
    region.read_exact_at(0, &mut head).is_ok() && head == TUXONICE
}

fn detect(region: &dyn RandomAccess) -> bool {
    !signatures(region).is_empty()
}

fn scan(region: &dyn RandomAccess) -> Verdict {
    let found = signatures(region);
    let page = match found.as_slice() {
        [(page, Signature::Swap)] => *page,
        [(_, Signature::SwapV0)] => {
            return Verdict::whole(
                "swap",
                "old-style (v0) swap area: obsolete since Linux 2.5, not scanned",
            );
        }
        [(page, Signature::Hibernation(sig))] => {
            return Verdict::whole(
                "swap",
                format!(
                    "hibernation image (signature {sig} at byte {}): the next boot resumes from it",
                    page - 10
                ),
            );
        }
        [] => return Verdict::whole("swap", "no swap signature"),
        several => {
            let list: Vec<String> = several
                .iter()
                .map(|(p, s)| format!("{s:?} for {p}-byte pages"))
                .collect();
            return Verdict::whole(
                "swap",
                format!(
                    "signatures for several page sizes ({}): which one is real cannot be told",
                    list.join(", ")
                ),
            );
        }
    };
    if tuxonice(region) {
        return Verdict::whole("swap", "TuxOnIce hibernation header at byte 0");
    }
    Verdict::from_analysis("swap", header(region, page))
}

/// Checks the v1 header of a swap area with `page`-byte pages.
fn header(region: &dyn RandomAccess, page: u64) -> Result<Found, String> {
    let mut first = vec![0u8; usize::try_from(page).map_err(|_| "page too large")?];
    region
        .read_exact_at(0, &mut first)
        .map_err(|e| format!("cannot read the first page: {e}"))?;
    // The header is in the creating machine's byte order.
    let raw = |at: usize| [first[at], first[at + 1], first[at + 2], first[at + 3]];
    let (u32_at, order): (Box<dyn Fn(usize) -> u32>, &str) = match u32::from_le_bytes(raw(1024)) {
        1 => (Box::new(|at| u32::from_le_bytes(raw(at))), "little-endian"),
        _ if u32::from_be_bytes(raw(1024)) == 1 => {
            (Box::new(|at| u32::from_be_bytes(raw(at))), "big-endian")
        }
        v => return Err(format!("unknown swap header version {v:#x} (expected 1)")),
    };
    let last_page = u64::from(u32_at(1028));
    let bad_count = u64::from(u32_at(1032));
    if last_page == 0 {
        return Err("the header says the swap area is empty (last_page 0)".into());
    }
    let end = (last_page + 1)
        .checked_mul(page)
        .ok_or_else(|| "last_page overflows".to_owned())?;
    if end > region.len() {
        return Err(format!(
            "the swap area ({} pages of {page} bytes) is larger than its region ({} bytes)",
            last_page + 1,
            region.len()
        ));
    }
    // The bad-page list runs from byte 1536 up to the signature (the kernel's limit).
    let max_bad = (page - 10 - 1536) / 4;
    if bad_count > max_bad {
        return Err(format!(
            "{bad_count} bad pages listed, more than the header holds ({max_bad})"
        ));
    }
    let mut bad = Vec::new();
    for i in 0..bad_count {
        let at = 1536 + 4 * usize::try_from(i).map_err(|_| "bad page index")?;
        let p = u64::from(u32_at(at));
        if p == 0 || p > last_page {
            return Err(format!("bad page {p} is outside pages 1..={last_page}"));
        }
        bad.push(p);
    }
    bad.sort_unstable();
    bad.dedup();
    // Bad pages are never used, but nothing is gained by leaving them out: keep them mapped.
    let mut free = Vec::new();
    let mut at = page;
    for p in &bad {
        free.push((at, p * page));
        at = (p + 1) * page;
    }
    free.push((at, end));
    free.retain(|(s, e)| s < e);

    let uuid: String = first[1036..1052]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let label = String::from_utf8_lossy(&first[1052..1068])
        .trim_end_matches('\0')
        .to_owned();
    let mut notes = vec![
        format!(
            "{page}-byte pages ({order} header), {} pages, UUID {uuid}{}",
            last_page + 1,
            if label.is_empty() {
                String::new()
            } else {
                format!(", label {label:?}")
            }
        ),
        format!(
            "mapped: the first page (header and signature){}",
            if bad.is_empty() {
                String::new()
            } else {
                format!(" and {} bad pages", bad.len())
            }
        ),
    ];
    if end < region.len() {
        notes.push(format!(
            "mapped: {} bytes after the last page",
            region.len() - end
        ));
    }
    Ok((free, notes))
}
