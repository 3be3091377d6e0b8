//! `s3://bucket/key` locations.

use std::fmt;

/// An S3 location: a bucket and a key, which may be a folder prefix ending in `/` or empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    /// The bucket.
    pub bucket: String,
    /// The key or key prefix, without a leading `/`.
    pub key: String,
}

impl S3Uri {
    /// Reads `s3://bucket/key`, saying what is wrong when it is not one.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(rest) = text.strip_prefix("s3://") else {
            return Err(format!("{text:?} is not an s3://bucket/key URI"));
        };
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_fits = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_fits {
            return Err(format!(
                "{text:?} does not name a bucket: 3 to 63 lowercase letters, digits, '-' or '.'"
            ));
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }

    /// Whether the location stands for a folder (every object under the prefix) rather than
    /// one object.
    pub fn is_folder(&self) -> bool {
        self.key.is_empty() || self.key.ends_with('/')
    }

    /// The location of an object under this folder.
    pub fn join(&self, key: &str) -> Self {
        Self {
            bucket: self.bucket.clone(),
            key: key.to_owned(),
        }
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_and_an_object_are_told_apart() {
        let folder = S3Uri::parse("s3://data-bucket/movielens/interactions/").unwrap();
        assert_eq!(folder.bucket, "data-bucket");
        assert!(folder.is_folder());
        let object = S3Uri::parse("s3://data-bucket/a/b.csv").unwrap();
        assert!(!object.is_folder());
        assert_eq!(object.to_string(), "s3://data-bucket/a/b.csv");
        assert!(S3Uri::parse("s3://data-bucket").unwrap().is_folder());
    }

    #[test]
    fn what_is_not_an_s3_uri_is_refused_with_the_reason() {
        assert!(S3Uri::parse("/tmp/x.csv").unwrap_err().contains("s3://"));
        assert!(
            S3Uri::parse("s3://Bad_Bucket/x")
                .unwrap_err()
                .contains("bucket")
        );
    }
}
