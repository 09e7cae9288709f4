//! The names of folder entries, for messages: the 8.3 name, or the long name before it.

/// The 8.3 name of a folder entry, as it would be shown (lower case where its flags say).
pub(super) fn short_name(e: &[u8]) -> String {
    let part = |bytes: &[u8], lower: bool| -> String {
        let text: String = bytes
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    char::from(b)
                } else {
                    '?'
                }
            })
            .collect();
        let text = text.trim_end().to_owned();
        if lower {
            text.to_ascii_lowercase()
        } else {
            text
        }
    };
    let (base, ext) = (
        part(&e[..8], e[12] & 0x08 != 0),
        part(&e[8..11], e[12] & 0x10 != 0),
    );
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

/// The long-name entries before a short entry, for messages.
#[derive(Default)]
pub(super) struct Long {
    /// (sequence number, checksum, UTF-16 units) of each entry, at most 20 (255 characters).
    parts: Vec<(u8, u8, [u16; 13])>,
}

impl Long {
    pub(super) fn push(&mut self, e: &[u8]) {
        if e[0] & 0x40 != 0 {
            self.parts.clear();
        }
        if self.parts.len() < 20 {
            let mut units = [0u16; 13];
            for (unit, at) in units
                .iter_mut()
                .zip([1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30])
            {
                *unit = u16::from_le_bytes([e[at], e[at + 1]]);
            }
            self.parts.push((e[0] & 0x1F, e[13], units));
        }
    }

    /// The long name, if these entries belong to the short entry `e` (their checksum).
    pub(super) fn name(mut self, e: &[u8]) -> Option<String> {
        let sum = e[..11]
            .iter()
            .fold(0u8, |s, &b| s.rotate_right(1).wrapping_add(b));
        if self.parts.is_empty() || self.parts.iter().any(|p| p.1 != sum) {
            return None;
        }
        self.parts.sort_by_key(|p| p.0);
        let units: Vec<u16> = self
            .parts
            .iter()
            .flat_map(|p| p.2)
            .take_while(|&u| u != 0)
            .collect();
        Some(String::from_utf16_lossy(&units))
    }
}
