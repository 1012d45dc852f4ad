//! Names for received files (PROTOCOL.md §8.11, "Cleaned names"): what a peer calls its file
//! never becomes a path as it is. A cleaned name has no separator, no leading dot, no control or
//! bidirectional formatting character, is short enough for any file system, and is never a
//! Windows device name; a name already taken gets ` (1)`, ` (2)`, … before its extension.

use crate::bidi::is_bidi_control;

/// Most characters of a cleaned name.
pub const MAX_NAME_CHARS: usize = 120;

/// Most UTF-8 bytes of a cleaned name (file systems allow 255; room for ` (999)`).
pub const MAX_NAME_BYTES: usize = 200;

/// Longest extension kept when a name is cut.
const MAX_EXTENSION_CHARS: usize = 16;

/// What an empty name becomes.
const FALLBACK: &str = "file";

/// Windows device names, which stay special whatever their extension.
const DEVICE_NAMES: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// The cleaned form of `name` (PROTOCOL.md §8.11).
pub fn clean_file_name(name: &str) -> String {
    let kept: String = name
        .chars()
        .filter(|c| {
            !c.is_control() && !is_bidi_control(*c) && !matches!(c, '\u{2028}' | '\u{2029}')
        })
        .map(|c| {
            if matches!(c, '/' | '\\' | ':') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let trimmed = kept.trim().trim_start_matches(['.', ' ']).trim_end();
    let mut cleaned = shorten(trimmed);
    // Cutting may leave white space or dots at an end.
    cleaned = cleaned.trim().trim_end_matches('.').trim_end().to_owned();
    if cleaned.is_empty() {
        return FALLBACK.to_owned();
    }
    let stem = cleaned.split('.').next().unwrap_or_default();
    if DEVICE_NAMES
        .iter()
        .any(|d| d.eq_ignore_ascii_case(stem.trim_end()))
    {
        cleaned.insert(0, '_');
    }
    cleaned
}

/// `name` cut to [`MAX_NAME_CHARS`] and [`MAX_NAME_BYTES`], keeping a short extension.
fn shorten(name: &str) -> String {
    if name.chars().count() <= MAX_NAME_CHARS && name.len() <= MAX_NAME_BYTES {
        return name.to_owned();
    }
    let (stem, extension) = split_extension(name);
    let extension = match extension {
        Some(ext) if ext.chars().count() <= MAX_EXTENSION_CHARS => ext,
        _ => "",
    };
    let room_chars = MAX_NAME_CHARS - extension.chars().count();
    let room_bytes = MAX_NAME_BYTES - extension.len();
    let mut out = String::new();
    for (count, c) in stem.chars().enumerate() {
        if count >= room_chars || out.len() + c.len_utf8() > room_bytes {
            break;
        }
        out.push(c);
    }
    out.push_str(extension);
    out
}

/// `("photo", Some(".jpeg"))` for `photo.jpeg`; no extension for `photo` or `.profile`.
fn split_extension(name: &str) -> (&str, Option<&str>) {
    match name.rfind('.') {
        Some(at) if at > 0 => (&name[..at], Some(&name[at..])),
        _ => (name, None),
    }
}

/// The `n`-th alternative to a taken `name`: `photo (n).jpeg`, still within the bounds.
pub fn numbered(name: &str, n: u32) -> String {
    let (stem, extension) = split_extension(name);
    let extension = extension.unwrap_or("");
    let suffix = format!(" ({n}){extension}");
    let mut out = String::new();
    for c in stem.chars() {
        if out.chars().count() + suffix.chars().count() >= MAX_NAME_CHARS
            || out.len() + c.len_utf8() + suffix.len() > MAX_NAME_BYTES
        {
            break;
        }
        out.push(c);
    }
    out.push_str(&suffix);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_lose_what_could_hurt() {
        let cases = [
            ("../../.ssh/authorized_keys", "_.._.ssh_authorized_keys"),
            ("/etc/passwd", "_etc_passwd"),
            ("..\\..\\boot.ini", "_.._boot.ini"),
            (".bashrc", "bashrc"),
            ("...", FALLBACK),
            ("", FALLBACK),
            ("   ", FALLBACK),
            ("invoice_\u{202e}fdp.exe", "invoice_fdp.exe"),
            ("a\u{0}b\nc\u{1b}[2J.txt", "abc[2J.txt"),
            ("C:evil.txt", "C_evil.txt"),
            ("CON", "_CON"),
            ("nul.txt", "_nul.txt"),
            ("com1 .tar.gz", "_com1 .tar.gz"),
            ("cat picture.png", "cat picture.png"),
            ("写真.jpeg", "写真.jpeg"),
            ("trailing dots...", "trailing dots"),
        ];
        for (input, expected) in cases {
            assert_eq!(clean_file_name(input), expected, "{input:?}");
        }
        let long = format!("{}.pdf", "é".repeat(500));
        let cleaned = clean_file_name(&long);
        assert!(cleaned.len() <= MAX_NAME_BYTES && cleaned.chars().count() <= MAX_NAME_CHARS);
        assert!(cleaned.ends_with("é.pdf"), "{cleaned}");
        let odd_extension = format!("a.{}", "x".repeat(300));
        assert!(clean_file_name(&odd_extension).len() <= MAX_NAME_BYTES);
    }

    #[test]
    fn collisions_are_numbered_before_the_extension() {
        assert_eq!(numbered("cat.png", 1), "cat (1).png");
        assert_eq!(numbered("README", 2), "README (2)");
        let long = clean_file_name(&format!("{}.png", "x".repeat(400)));
        let n = numbered(&long, 999);
        assert!(
            n.ends_with(" (999).png") && n.len() <= MAX_NAME_BYTES,
            "{n}"
        );
    }
}
