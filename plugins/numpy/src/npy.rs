//! A single `.npy` file: one tensor named after the file.

use modelpack_plugin_sdk::prelude::*;
use pickle_scan::pickle::GlobalUse;

use crate::header::{self, NUMPY_MAX_HEADER, NpyHeader};
use crate::object::{self, MAX_OBJECT_PICKLE};
use crate::report::{self, meta, text};

/// Metadata describing one header.
pub fn header_metadata(h: &NpyHeader) -> Vec<MetaEntry> {
    vec![
        text("npy.version", h.version_text()),
        text("npy.descr", h.descr.clone()),
        meta("npy.fortran_order", MetaValue::Boolean(h.fortran_order)),
        text("npy.byte_order", h.dtype.byte_order),
        meta("npy.itemsize", MetaValue::Uint(h.dtype.itemsize)),
        meta("npy.header_len", MetaValue::Uint(h.header_len)),
        meta("npy.data_offset", MetaValue::Uint(h.data_offset)),
    ]
}

/// A warning when numpy's default header cap would refuse the file.
pub fn header_size_findings(h: &NpyHeader, name: &str) -> Vec<Finding> {
    if h.header_len <= NUMPY_MAX_HEADER {
        return vec![];
    }
    vec![finding(
        "large-npy-header",
        Severity::Warning,
        format!(
            "{name}: header of {} bytes exceeds numpy's default max_header_size {NUMPY_MAX_HEADER}; np.load refuses it unless allow_pickle/max_header_size is raised",
            h.header_len
        ),
        Some(name.to_string()),
    )]
}

/// Checks the data fits in `available` bytes after the header (object arrays excepted).
pub fn check_data(h: &NpyHeader, available: u64, what: &str) -> Result<(), Error> {
    if h.dtype.has_object {
        return Ok(());
    }
    let nbytes = h.nbytes().ok_or_else(|| {
        Error::Malformed(format!(
            "{what}: shape {:?} × itemsize {} overflows",
            h.shape, h.dtype.itemsize
        ))
    })?;
    let have = available.saturating_sub(h.data_offset);
    if nbytes > have {
        return Err(Error::Malformed(format!(
            "{what}: data needs {nbytes} bytes ({:?} × {} bytes) after the {}-byte header but only {have} remain",
            h.shape, h.dtype.itemsize, h.data_offset
        )));
    }
    Ok(())
}

/// Inspects an `.npy` file.
pub fn inspect(src: &dyn Source) -> Result<ModelReport, Error> {
    let name = src.name();
    let file = name.rsplit('/').next().unwrap_or(&name).to_string();
    let h = header::read(&mut |n| read_at(src, 0, n), &name)?;
    check_data(&h, src.size(), &name)?;
    let mut findings = header_size_findings(&h, &file);
    let mut globals: Vec<GlobalUse> = Vec::new();
    if h.dtype.has_object {
        let len = src.size().saturating_sub(h.data_offset);
        let payload = if len <= MAX_OBJECT_PICKLE {
            Some(read_at(src, h.data_offset, len)?)
        } else {
            None
        };
        findings.extend(object::scan(&file, payload.as_deref(), &mut globals));
    }
    let mut metadata = header_metadata(&h);
    if h.dtype.has_object {
        metadata.extend(report::pickle_metadata(&globals));
    }
    let tensor = weight_tensor(file, h.dtype.name.clone(), h.shape.clone());
    Ok(report::build("npy", vec![tensor], metadata, findings))
}
