//! What the steps read from S3: the pipeline config, and the start of each data file, checked
//! against its dataset's schema before an import is paid for.

use std::path::Path;

use dataset_files::MIN_INTERACTIONS;
use dataset_files::schema::{DatasetSchema, DatasetType};
use dataset_files::validate::check_file;

use crate::config::PipelineConfig;
use crate::deps::Deps;
use crate::error::{CallError, StepError};
use crate::uri::S3Uri;

/// How much of each data file is read and checked: the header and the first rows (a few
/// hundred to a few thousand, by row width). Enough to catch a wrong header, a wrong type or
/// timestamps in milliseconds; the import job reads the rest.
pub const SAMPLE_BYTES: usize = 64 * 1024;

/// The most data files of one import whose start is checked: a folder of thousands of parts
/// shares one writer, so the first few tell what the rest look like.
pub const MAX_FILES_CHECKED: usize = 20;

/// Reads the pipeline config at `uri`: an `s3://` URI, or a file path when local paths are
/// allowed.
pub async fn load_config(uri: &str, deps: &Deps) -> Result<PipelineConfig, StepError> {
    if uri.starts_with("s3://") {
        let location = S3Uri::parse(uri)
            .map_err(|e| StepError::invalid(format!("run request: configUri: {e}")))?;
        if location.is_folder() {
            return Err(StepError::invalid(format!(
                "run request: configUri: {uri} names a folder, not the config file"
            )));
        }
        let text = read_object(deps, &location, None).await?;
        let text = String::from_utf8(text).map_err(|_| {
            StepError::invalid(format!("pipeline config {uri}: the file is not UTF-8"))
        })?;
        return PipelineConfig::from_json(&text, uri);
    }
    if !deps.settings.local_config_paths {
        return Err(StepError::invalid(format!(
            "run request: configUri: {uri:?} is not an s3:// URI (file paths are read only in local mode)"
        )));
    }
    let path = match &deps.settings.config_root {
        Some(root) if Path::new(uri).is_relative() => root.join(uri),
        _ => uri.into(),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        StepError::invalid(format!(
            "run request: configUri: {} cannot be read: {e}",
            path.display()
        ))
    })?;
    PipelineConfig::from_json(&text, &path.display().to_string())
}

/// The CSV files an import of `location` reads: the object itself, or each `.csv` object
/// directly in the folder (markers such as `_SUCCESS` and subfolders are not data).
pub async fn data_files(location: &S3Uri, deps: &Deps) -> Result<Vec<S3Uri>, StepError> {
    if !location.is_folder() {
        return Ok(vec![location.clone()]);
    }
    let mut files = Vec::new();
    let mut pages = deps
        .s3
        .list_objects_v2()
        .bucket(&location.bucket)
        .prefix(&location.key)
        .delimiter("/")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| s3_error(CallError::new("ListObjectsV2", e), location))?;
        for object in page.contents() {
            let key = object.key().unwrap_or_default();
            let name = key.rsplit('/').next().unwrap_or(key);
            if name.to_ascii_lowercase().ends_with(".csv") {
                files.push(location.join(key));
            }
        }
    }
    if files.is_empty() {
        return Err(StepError::invalid(format!(
            "no CSV data files in {location}: an import of a folder reads the .csv objects directly in it"
        )));
    }
    Ok(files)
}

/// Reads the header and first rows of each data file and checks them against the dataset's
/// schema, the way the import job will. The error names the file, line and column.
pub async fn check_data(
    location: &S3Uri,
    schema: &DatasetSchema,
    dataset_type: DatasetType,
    deps: &Deps,
) -> Result<CheckedData, StepError> {
    let files = data_files(location, deps).await?;
    let mut rows = 0u64;
    let mut read_whole = files.len() <= MAX_FILES_CHECKED;
    for file in files.iter().take(MAX_FILES_CHECKED) {
        let sample = read_object(deps, file, Some(SAMPLE_BYTES)).await?;
        read_whole &= sample.len() < SAMPLE_BYTES;
        rows += check_sample(sample, &file.to_string(), schema, dataset_type)
            .map_err(StepError::invalid)?;
    }
    if read_whole && dataset_type == DatasetType::Interactions && rows < MIN_INTERACTIONS {
        return Err(StepError::invalid(format!(
            "data in {location}: {rows} interactions; an interactions import needs at least {MIN_INTERACTIONS}"
        )));
    }
    Ok(CheckedData {
        files: files.len(),
        rows_checked: rows,
    })
}

/// Checks the start of one data file, at most [`SAMPLE_BYTES`] read from it, against the
/// dataset's schema; answers the rows checked, or the problem naming `file`, line and column.
/// A full sample's last line was probably cut in two, so only whole lines are checked.
pub fn check_sample(
    mut sample: Vec<u8>,
    file: &str,
    schema: &DatasetSchema,
    dataset_type: DatasetType,
) -> Result<u64, String> {
    if sample.len() >= SAMPLE_BYTES {
        let end = sample
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        sample.truncate(end);
    }
    check_file(
        sample.as_slice(),
        file,
        schema,
        dataset_type.id_field(),
        |_| {},
    )
    .map_err(|problem| format!("data file {problem}"))
}

/// What [`check_data`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedData {
    /// How many data files the import will read.
    pub files: usize,
    /// How many rows were checked, from the start of the first files.
    pub rows_checked: u64,
}

/// Reads an object, or its first `limit` bytes.
async fn read_object(
    deps: &Deps,
    location: &S3Uri,
    limit: Option<usize>,
) -> Result<Vec<u8>, StepError> {
    let mut request = deps
        .s3
        .get_object()
        .bucket(&location.bucket)
        .key(&location.key);
    if let Some(limit) = limit {
        request = request.range(format!("bytes=0-{}", limit - 1));
    }
    let object = match request.send().await {
        Ok(object) => object,
        Err(e) => {
            let error = CallError::new("GetObject", e);
            // A range of an empty object is not satisfiable: the object is simply empty.
            if limit.is_some() && error.is("InvalidRange") {
                return Ok(Vec::new());
            }
            return Err(s3_error(error, location));
        }
    };
    let body = object
        .body
        .collect()
        .await
        .map_err(|e| StepError::retryable(format!("reading {location} was cut short: {e}")))?;
    Ok(body.into_bytes().to_vec())
}

/// S3's answer in the terms of the object at fault.
fn s3_error(error: CallError, location: &S3Uri) -> StepError {
    let missing = error.is("NoSuchKey") || error.is("NoSuchBucket") || error.is("NotFound");
    if missing {
        StepError::invalid(format!("{location} does not exist"))
    } else if error.is("AccessDenied") {
        StepError::invalid(format!(
            "{location} cannot be read: access denied ({})",
            error.message
        ))
    } else {
        StepError::from(error)
    }
}
