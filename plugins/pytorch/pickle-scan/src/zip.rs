//! A small ZIP reader over a [`Source`]: end-of-central-directory (plus ZIP64), the central
//! directory, and member data (stored or deflated) read on demand.
//!
//! Only the central directory is trusted for sizes; a local header is read just to find where a
//! member's data starts. Every size comes from the file, so each one is checked against the file
//! size and a caller-given cap before anything is allocated.

use miniz_oxide::inflate::stream::{InflateState, inflate};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};
use modelpack_plugin_sdk::prelude::*;

/// Largest central directory read (a few million entries).
pub const MAX_CENTRAL_DIRECTORY: u64 = 256 << 20;

const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;
const EOCD_LEN: usize = 22;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: u64 = 30;

/// Compression method 0: the member's bytes are stored as is.
pub const METHOD_STORED: u16 = 0;
/// Compression method 8: raw deflate.
pub const METHOD_DEFLATED: u16 = 8;

/// One member as described by the central directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    /// Path inside the archive (UTF-8, lossily decoded).
    pub name: String,
    /// Compression method (0 stored, 8 deflated).
    pub method: u16,
    /// General-purpose flags (bit 0 = encrypted).
    pub flags: u16,
    /// Bytes the member occupies in the file.
    pub compressed_size: u64,
    /// Bytes once decompressed.
    pub uncompressed_size: u64,
    /// Where the member's local header starts.
    pub local_header_offset: u64,
}

impl ZipEntry {
    /// True when the name could escape an extraction directory (`..`, absolute, drive letters).
    pub fn is_unsafe_path(&self) -> bool {
        let n = self.name.as_str();
        n.starts_with('/')
            || n.starts_with('\\')
            || n.as_bytes().get(1) == Some(&b':')
            || n.split(['/', '\\']).any(|c| c == "..")
    }

    /// The method as a word for reports (`stored`, `deflated`, or the number).
    pub fn method_name(&self) -> String {
        match self.method {
            METHOD_STORED => "stored".into(),
            METHOD_DEFLATED => "deflated".into(),
            m => m.to_string(),
        }
    }
}

/// The central directory of an archive.
#[derive(Debug, Clone)]
pub struct ZipArchive {
    /// Members in central-directory order.
    pub entries: Vec<ZipEntry>,
    /// Offset of the central directory (member data must end before it).
    pub central_directory_offset: u64,
    /// Member indices sorted by name (then position), for lookups without copying names.
    by_name: Vec<u32>,
}

impl ZipArchive {
    /// The member with exactly this name (the first one if a name repeats).
    pub fn find(&self, name: &str) -> Option<&ZipEntry> {
        self.find_all(name).next()
    }

    /// Every member with exactly this name (readers disagree on which duplicate wins).
    pub fn find_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a ZipEntry> + 'a {
        let start = self
            .by_name
            .partition_point(|&i| self.entries[i as usize].name.as_str() < name);
        let name = name.to_string();
        self.by_name[start..]
            .iter()
            .map(|&i| &self.entries[i as usize])
            .take_while(move |e| e.name == name)
    }

    /// Names that more than one member carries, sorted.
    pub fn duplicate_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for w in self.by_name.windows(2) {
            let (a, b) = (
                &self.entries[w[0] as usize].name,
                &self.entries[w[1] as usize].name,
            );
            if a == b && out.last() != Some(&a.as_str()) {
                out.push(a);
            }
        }
        out
    }
}

/// True when `head` starts like a ZIP archive (a local header or an empty archive's EOCD).
pub fn looks_like_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06")
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).map_or(0, |s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_le_bytes(a)
    })
}

fn malformed(src: &dyn Source, msg: String) -> Error {
    Error::Malformed(format!("{}: zip: {msg}", src.name()))
}

/// Where the end-of-central-directory record is, and what it says.
struct Eocd {
    offset: u64,
    entries: u64,
    cd_size: u64,
    cd_offset: u64,
}

fn find_eocd(src: &dyn Source) -> Result<Eocd, Error> {
    let size = src.size();
    if size < EOCD_LEN as u64 {
        return Err(malformed(
            src,
            format!("file of {size} bytes is too small for an archive"),
        ));
    }
    // The record is 22 bytes plus a comment of at most 65535 bytes.
    let tail_len = size.min(EOCD_LEN as u64 + 0xFFFF);
    let tail_start = size - tail_len;
    let tail = read_at(src, tail_start, tail_len)?;
    let mut found = None;
    let mut p = tail.len().saturating_sub(EOCD_LEN);
    loop {
        if u32_at(&tail, p) == EOCD_SIG {
            let comment = u16_at(&tail, p + 20) as usize;
            // Prefer the record whose comment ends exactly at end of file; accept trailing junk.
            if p + EOCD_LEN + comment == tail.len() {
                found = Some(p);
                break;
            }
            if found.is_none() && p + EOCD_LEN + comment <= tail.len() {
                found = Some(p);
            }
        }
        if p == 0 {
            break;
        }
        p -= 1;
    }
    let p = found.ok_or_else(|| malformed(src, "no end-of-central-directory record".into()))?;
    let rec = &tail[p..];
    let disk = u16_at(rec, 4);
    let cd_disk = u16_at(rec, 6);
    if disk != 0 || cd_disk != 0 {
        return Err(Error::Unsupported(format!(
            "{}: zip: multi-disk archives are not supported (disk {disk})",
            src.name()
        )));
    }
    let mut eocd = Eocd {
        offset: tail_start + p as u64,
        entries: u16_at(rec, 10) as u64,
        cd_size: u32_at(rec, 12) as u64,
        cd_offset: u32_at(rec, 16) as u64,
    };
    // ZIP64: a locator sits right before the classic record.
    if eocd.offset >= 20 {
        let loc = read_at(src, eocd.offset - 20, 20)?;
        if u32_at(&loc, 0) == ZIP64_LOCATOR_SIG {
            let z64_off = u64_at(&loc, 8);
            let rec = read_exact_at(src, z64_off, 56, "zip64 end-of-central-directory record")?;
            if u32_at(&rec, 0) != ZIP64_EOCD_SIG {
                return Err(malformed(
                    src,
                    format!("zip64 locator points at offset {z64_off} without a zip64 record"),
                ));
            }
            eocd.entries = u64_at(&rec, 32);
            eocd.cd_size = u64_at(&rec, 40);
            eocd.cd_offset = u64_at(&rec, 48);
            eocd.offset = z64_off;
        }
    }
    Ok(eocd)
}

/// Reads the central directory.
pub fn read_archive(src: &dyn Source) -> Result<ZipArchive, Error> {
    let eocd = find_eocd(src)?;
    let cd_end = eocd.cd_offset.checked_add(eocd.cd_size);
    if cd_end.is_none_or(|end| end > eocd.offset) {
        return Err(malformed(
            src,
            format!(
                "central directory at {} with size {} overlaps the end record at {}",
                eocd.cd_offset, eocd.cd_size, eocd.offset
            ),
        ));
    }
    if eocd.cd_size > MAX_CENTRAL_DIRECTORY {
        return Err(Error::TooLarge(format!(
            "{}: zip: central directory of {} bytes exceeds {MAX_CENTRAL_DIRECTORY}",
            src.name(),
            eocd.cd_size
        )));
    }
    if eocd.entries > eocd.cd_size / CENTRAL_LEN as u64 {
        return Err(malformed(
            src,
            format!(
                "{} entries cannot fit in a central directory of {} bytes",
                eocd.entries, eocd.cd_size
            ),
        ));
    }
    let cd = read_exact_at(src, eocd.cd_offset, eocd.cd_size, "zip central directory")?;
    let mut entries = Vec::with_capacity(eocd.entries as usize);
    let mut pos = 0usize;
    for i in 0..eocd.entries {
        let e = parse_central_entry(&cd, &mut pos)
            .map_err(|m| malformed(src, format!("central directory entry {i}: {m}")))?;
        let end = e.local_header_offset.checked_add(LOCAL_LEN);
        if end.is_none_or(|end| end > eocd.cd_offset) {
            return Err(malformed(
                src,
                format!(
                    "member {:?}: local header offset {} lies beyond the central directory at {}",
                    e.name, e.local_header_offset, eocd.cd_offset
                ),
            ));
        }
        entries.push(e);
    }
    let mut by_name: Vec<u32> = (0..entries.len() as u32).collect();
    by_name.sort_by(|&a, &b| {
        entries[a as usize]
            .name
            .cmp(&entries[b as usize].name)
            .then(a.cmp(&b))
    });
    Ok(ZipArchive {
        entries,
        central_directory_offset: eocd.cd_offset,
        by_name,
    })
}

fn parse_central_entry(cd: &[u8], pos: &mut usize) -> Result<ZipEntry, String> {
    let p = *pos;
    let fixed = cd
        .get(p..p + CENTRAL_LEN)
        .ok_or_else(|| format!("truncated at offset {p}"))?;
    if u32_at(fixed, 0) != CENTRAL_SIG {
        return Err(format!("bad signature at offset {p}"));
    }
    let flags = u16_at(fixed, 8);
    let method = u16_at(fixed, 10);
    let mut compressed_size = u32_at(fixed, 20) as u64;
    let mut uncompressed_size = u32_at(fixed, 24) as u64;
    let name_len = u16_at(fixed, 28) as usize;
    let extra_len = u16_at(fixed, 30) as usize;
    let comment_len = u16_at(fixed, 32) as usize;
    let mut local_header_offset = u32_at(fixed, 42) as u64;
    let name_start = p + CENTRAL_LEN;
    let extra_start = name_start + name_len;
    let end = extra_start + extra_len + comment_len;
    if end > cd.len() {
        return Err(format!(
            "name/extra/comment run past the directory end ({end} > {})",
            cd.len()
        ));
    }
    let name = String::from_utf8_lossy(&cd[name_start..extra_start]).into_owned();
    // ZIP64 extended information: present only for fields saturated at 0xFFFFFFFF, in order.
    let mut extra = &cd[extra_start..extra_start + extra_len];
    while extra.len() >= 4 {
        let id = u16_at(extra, 0);
        let len = (u16_at(extra, 2) as usize).min(extra.len() - 4);
        let body = &extra[4..4 + len];
        if id == 0x0001 {
            let mut at = 0;
            for field in [
                &mut uncompressed_size,
                &mut compressed_size,
                &mut local_header_offset,
            ] {
                if *field == 0xFFFF_FFFF {
                    if at + 8 > body.len() {
                        return Err(format!("{name:?}: zip64 extra field too short"));
                    }
                    *field = u64_at(body, at);
                    at += 8;
                }
            }
        }
        extra = &extra[4 + len..];
    }
    *pos = end;
    Ok(ZipEntry {
        name,
        method,
        flags,
        compressed_size,
        uncompressed_size,
        local_header_offset,
    })
}

/// Offset of the member's first data byte (after its local header), checked against the file.
pub fn data_offset(src: &dyn Source, e: &ZipEntry) -> Result<u64, Error> {
    let lh = read_exact_at(src, e.local_header_offset, LOCAL_LEN, "zip local header")?;
    if u32_at(&lh, 0) != LOCAL_SIG {
        return Err(malformed(
            src,
            format!(
                "member {:?}: no local header at offset {}",
                e.name, e.local_header_offset
            ),
        ));
    }
    let start = e.local_header_offset + LOCAL_LEN + u16_at(&lh, 26) as u64 + u16_at(&lh, 28) as u64;
    if start
        .checked_add(e.compressed_size)
        .is_none_or(|end| end > src.size())
    {
        return Err(malformed(
            src,
            format!(
                "member {:?}: {} bytes at offset {start} exceed file size {}",
                e.name,
                e.compressed_size,
                src.size()
            ),
        ));
    }
    Ok(start)
}

fn check_readable(src: &dyn Source, e: &ZipEntry) -> Result<(), Error> {
    if e.flags & 1 != 0 {
        return Err(Error::Unsupported(format!(
            "{}: zip member {:?} is encrypted",
            src.name(),
            e.name
        )));
    }
    if e.method != METHOD_STORED && e.method != METHOD_DEFLATED {
        return Err(Error::Unsupported(format!(
            "{}: zip member {:?} uses compression method {} (only stored and deflated are read)",
            src.name(),
            e.name,
            e.method
        )));
    }
    Ok(())
}

/// The first `limit` decompressed bytes of a member (fewer if the member is shorter).
pub fn read_prefix(src: &dyn Source, e: &ZipEntry, limit: u64) -> Result<Vec<u8>, Error> {
    check_readable(src, e)?;
    let start = data_offset(src, e)?;
    if e.method == METHOD_STORED {
        return read_exact_at(src, start, e.compressed_size.min(limit), "zip member data");
    }
    inflate_prefix(src, e, start, limit.min(e.uncompressed_size))
}

/// The whole decompressed member, refused with `TooLarge` above `cap` bytes.
pub fn read_all(src: &dyn Source, e: &ZipEntry, cap: u64) -> Result<Vec<u8>, Error> {
    if e.uncompressed_size > cap {
        return Err(Error::TooLarge(format!(
            "{}: zip member {:?} of {} bytes exceeds the {cap}-byte limit",
            src.name(),
            e.name,
            e.uncompressed_size
        )));
    }
    if e.method == METHOD_STORED && e.compressed_size != e.uncompressed_size {
        return Err(malformed(
            src,
            format!(
                "stored member {:?} has compressed size {} but uncompressed size {}",
                e.name, e.compressed_size, e.uncompressed_size
            ),
        ));
    }
    let data = read_prefix(src, e, e.uncompressed_size)?;
    if data.len() as u64 != e.uncompressed_size {
        return Err(malformed(
            src,
            format!(
                "member {:?} holds {} bytes, the central directory says {}",
                e.name,
                data.len(),
                e.uncompressed_size
            ),
        ));
    }
    Ok(data)
}

/// Inflates at most `limit` bytes, reading compressed input in chunks.
fn inflate_prefix(
    src: &dyn Source,
    e: &ZipEntry,
    start: u64,
    limit: u64,
) -> Result<Vec<u8>, Error> {
    const CHUNK: u64 = 256 << 10;
    let mut state = InflateState::new_boxed(DataFormat::Raw);
    let mut out = Vec::with_capacity(limit.min(CHUNK) as usize);
    let mut buf = vec![0u8; CHUNK as usize];
    let mut consumed = 0u64;
    let mut input = Vec::new();
    let mut in_pos = 0usize;
    while (out.len() as u64) < limit {
        if in_pos == input.len() && consumed < e.compressed_size {
            let n = (e.compressed_size - consumed).min(CHUNK);
            input = read_exact_at(src, start + consumed, n, "zip member data")?;
            consumed += n;
            in_pos = 0;
        }
        let last = consumed == e.compressed_size;
        let flush = if last { MZFlush::Finish } else { MZFlush::None };
        let want = ((limit - out.len() as u64).min(CHUNK)) as usize;
        let r = inflate(&mut state, &input[in_pos..], &mut buf[..want], flush);
        in_pos += r.bytes_consumed;
        out.extend_from_slice(&buf[..r.bytes_written]);
        match r.status {
            Ok(MZStatus::StreamEnd) => break,
            Ok(_) | Err(MZError::Buf) => {}
            Err(err) => {
                return Err(malformed(
                    src,
                    format!("member {:?}: inflate failed: {err:?}", e.name),
                ));
            }
        }
        let progressed = r.bytes_consumed > 0 || r.bytes_written > 0;
        let more_input = in_pos == input.len() && !last;
        if !progressed && !more_input {
            return Err(malformed(
                src,
                format!("member {:?}: deflate stream ends early", e.name),
            ));
        }
    }
    out.truncate(limit as usize);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelpack_plugin_sdk::MemSource;

    /// One stored member written the ZIP64 way: saturated sizes and offset in the central
    /// directory with a 0x0001 extra field, a zip64 end record and its locator.
    fn zip64(name: &str, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(LOCAL_SIG.to_le_bytes());
        out.extend([45, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend(0xFFFF_FFFFu32.to_le_bytes());
        out.extend(0xFFFF_FFFFu32.to_le_bytes());
        out.extend((name.len() as u16).to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out.extend(name.as_bytes());
        out.extend(data);
        let cd_offset = out.len() as u64;
        let mut extra = vec![1, 0, 24, 0];
        extra.extend((data.len() as u64).to_le_bytes());
        extra.extend((data.len() as u64).to_le_bytes());
        extra.extend(0u64.to_le_bytes());
        out.extend(CENTRAL_SIG.to_le_bytes());
        out.extend([45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend(0xFFFF_FFFFu32.to_le_bytes());
        out.extend(0xFFFF_FFFFu32.to_le_bytes());
        out.extend((name.len() as u16).to_le_bytes());
        out.extend((extra.len() as u16).to_le_bytes());
        out.extend([0u8; 10]);
        out.extend(0xFFFF_FFFFu32.to_le_bytes());
        out.extend(name.as_bytes());
        out.extend(&extra);
        let cd_size = out.len() as u64 - cd_offset;
        let z64 = out.len() as u64;
        out.extend(ZIP64_EOCD_SIG.to_le_bytes());
        out.extend(44u64.to_le_bytes());
        out.extend([45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend(1u64.to_le_bytes());
        out.extend(1u64.to_le_bytes());
        out.extend(cd_size.to_le_bytes());
        out.extend(cd_offset.to_le_bytes());
        out.extend(ZIP64_LOCATOR_SIG.to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend(z64.to_le_bytes());
        out.extend(1u32.to_le_bytes());
        out.extend(EOCD_SIG.to_le_bytes());
        out.extend([0u8; 4]);
        out.extend([0xFF; 4]);
        out.extend([0xFF; 8]);
        out.extend(0u16.to_le_bytes());
        out
    }

    #[test]
    fn reads_zip64_records() {
        let src = MemSource::new("z.zip", zip64("a/data.pkl", b"\x80\x02}."));
        let a = read_archive(&src).unwrap();
        assert_eq!(a.entries.len(), 1);
        let e = a.find("a/data.pkl").unwrap();
        assert_eq!(
            (
                e.compressed_size,
                e.uncompressed_size,
                e.local_header_offset
            ),
            (4, 4, 0)
        );
        assert_eq!(read_all(&src, e, 100).unwrap(), b"\x80\x02}.");
        assert!(matches!(read_all(&src, e, 2), Err(Error::TooLarge(_))));
    }

    #[test]
    fn refuses_bad_archives() {
        for bad in [
            &b"PK\x05\x06"[..],
            b"",
            b"not a zip at all, not at all, really",
        ] {
            assert!(read_archive(&MemSource::new("x", bad.to_vec())).is_err());
        }
        // 60000 entries cannot fit in a 46-byte central directory.
        let mut eocd = vec![0u8; 22];
        eocd[..4].copy_from_slice(&EOCD_SIG.to_le_bytes());
        eocd[10..12].copy_from_slice(&60000u16.to_le_bytes());
        eocd[12..16].copy_from_slice(&46u32.to_le_bytes());
        assert!(read_archive(&MemSource::new("x", eocd)).is_err());
    }
}
