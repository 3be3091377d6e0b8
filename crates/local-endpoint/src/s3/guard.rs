//! Where a folder would not behave as a bucket, the checks made before `s3s-fs` sees a request.
//!
//! `s3s-fs` turns `bucket/key` into the path `<root>/bucket/key` as it stands, so a key with a
//! `..` segment names a file in another bucket or in the S3 folder itself, and DeleteBucket
//! removes the bucket's folder whatever it holds. It also echoes `encoding-type=url` in a
//! listing without encoding the keys, so a client that asked decodes keys that were never
//! encoded (`+` becomes a space). Each check here answers as S3 does, or refuses plainly.

use std::path::{Path, PathBuf};

use axum::body::Body;
use http::{Method, Request, Uri, header};
use http_body_util::BodyExt;
use s3s::{S3Result, s3_error};

/// The query parameters that make a DELETE on a bucket some other operation than DeleteBucket,
/// as `s3s` routes them.
const DELETE_BUCKET_SUBRESOURCES: &[&str] = &[
    "analytics",
    "intelligent-tiering",
    "inventory",
    "metrics",
    "cors",
    "encryption",
    "lifecycle",
    "metadataTable",
    "ownershipControls",
    "policy",
    "replication",
    "tagging",
    "website",
    "publicAccessBlock",
];

/// Drops the `encoding-type` query parameter, so listings name their keys unencoded and say
/// nothing of an encoding, which is what S3 answers a request that asked for none.
pub fn without_encoding_type(request: &mut Request<Body>) {
    let Some(query) = request.uri().query() else {
        return;
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| parameter_name(pair) != "encoding-type")
        .collect();
    let path = request.uri().path();
    let path_and_query = if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    let mut parts = request.uri().clone().into_parts();
    if let Ok(path_and_query) = path_and_query.parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(uri) = Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
}

/// Refuses a request whose key, or whose `x-amz-copy-source`, would name a file outside its
/// bucket.
pub fn check_keys(request: &Request<Body>) -> S3Result<()> {
    if let (_, Some(key)) = bucket_and_key(request.uri())? {
        check_key(&key)?;
    }
    if let Some(source) = request.headers().get("x-amz-copy-source") {
        let source = source
            .to_str()
            .map_err(|_| s3_error!(InvalidArgument, "x-amz-copy-source is not text"))?;
        if let Some(key) = copy_source_key(source)? {
            check_key(&key)?;
        }
    }
    Ok(())
}

/// Answers GET or HEAD of a key that is a folder, not a file, with 404 NoSuchKey, as S3 answers
/// a key no object has; `s3s-fs` would fail reading the folder as a file (500).
pub fn check_object_is_not_folder(request: &Request<Body>, root: &Path) -> S3Result<()> {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return Ok(());
    }
    let (bucket, Some(key)) = bucket_and_key(request.uri())? else {
        return Ok(());
    };
    if key.is_empty() || !s3s::path::check_bucket_name(&bucket) {
        return Ok(());
    }
    if root.join(&bucket).join(&key).is_dir() {
        return Err(s3_error!(NoSuchKey, "The specified key does not exist."));
    }
    Ok(())
}

/// Refuses a browser form upload (PostObject): its key is in the form, out of reach of
/// [`check_keys`], and like a presigned URL it is signed for a real bucket.
pub fn check_not_form_upload(request: &Request<Body>) -> S3Result<()> {
    let form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if request.method() == Method::POST && form {
        return Err(s3_error!(
            NotImplemented,
            "form uploads (PostObject) are not served by the local endpoint, as presigned URLs \
             are not; use PutObject"
        ));
    }
    Ok(())
}

/// The folder of the bucket a plain DeleteBucket request deletes, or `None` for any other
/// request.
pub fn deleted_bucket_folder(request: &Request<Body>, root: &Path) -> S3Result<Option<PathBuf>> {
    if request.method() != Method::DELETE {
        return Ok(None);
    }
    let uri = request.uri();
    let (bucket, key) = bucket_and_key(uri)?;
    let subresource = query_names(uri).any(|name| DELETE_BUCKET_SUBRESOURCES.contains(&name));
    if key.is_some() || subresource || !s3s::path::check_bucket_name(&bucket) {
        return Ok(None);
    }
    Ok(Some(root.join(bucket)))
}

/// Answers DeleteBucket on a bucket that holds objects with 409 BucketNotEmpty, as S3 does,
/// where `s3s-fs` would remove the folder and every file in it.
///
/// The check and the removal are not one step: an object put between them is removed with the
/// folder. Only a DeleteBucket of our own in place of `s3s-fs`'s (removing empty folders and
/// then the bucket's, never recursively) would close that gap.
pub async fn check_bucket_empty(folder: PathBuf) -> S3Result<()> {
    let unreadable = |e: &dyn std::fmt::Display| {
        s3_error!(InternalError, "the bucket's folder could not be read: {e}")
    };
    let holds_objects = tokio::task::spawn_blocking(move || holds_files(&folder))
        .await
        .map_err(|e| unreadable(&e))?
        .map_err(|e| unreadable(&e))?;
    if holds_objects {
        return Err(s3_error!(
            BucketNotEmpty,
            "The bucket you tried to delete is not empty"
        ));
    }
    Ok(())
}

/// Refuses a DeleteObjects request naming a key that [`check_keys`] would refuse; the body is
/// read to look, and handed on as it was.
pub async fn check_delete_objects(request: Request<Body>) -> S3Result<Request<Body>> {
    let deletes =
        request.method() == Method::POST && query_names(request.uri()).any(|n| n == "delete");
    if !deletes {
        return Ok(request);
    }

    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| s3_error!(IncompleteBody, "the request body could not be read: {e}"))?
        .to_bytes();
    // A body that does not parse is left to s3s, which answers MalformedXML.
    let mut xml = s3s::xml::Deserializer::new(&body);
    if let Ok(delete) = <s3s::dto::Delete as s3s::xml::Deserialize>::deserialize(&mut xml) {
        for object in &delete.objects {
            check_key(&object.key)?;
        }
    }
    Ok(Request::from_parts(parts, Body::from(body)))
}

/// Refuses a key that names a file outside its bucket, or another key's file: one with a `.`,
/// `..` or empty segment (`a//b` would be the file `a/b`), or a leading `/` (which the file
/// system reads as an absolute path). A trailing `/` (a folder marker) is let through.
fn check_key(key: &str) -> S3Result<()> {
    let inner = key.strip_suffix('/').unwrap_or(key);
    let escapes = key.starts_with('/') || inner.split('/').any(|s| matches!(s, "" | "." | ".."));
    if escapes && !key.is_empty() {
        return Err(s3_error!(
            InvalidArgument,
            "the key {key:?} has a `.`, `..` or empty segment or starts with `/`: such keys are \
             not served by the local endpoint, because S3 is a folder here and the key would \
             name another object's file or a file outside its bucket"
        ));
    }
    Ok(())
}

/// The bucket and the key of a path-style request, percent-decoded and split as `s3s` does.
fn bucket_and_key(uri: &Uri) -> S3Result<(String, Option<String>)> {
    let path = percent_decode(uri.path())
        .ok_or_else(|| s3_error!(InvalidURI, "the path is not UTF-8 once percent-decoded"))?;
    let path = path.strip_prefix('/').unwrap_or(&path);
    Ok(match path.split_once('/') {
        None => (path.to_owned(), None),
        Some((bucket, "")) => (bucket.to_owned(), None),
        Some((bucket, key)) => (bucket.to_owned(), Some(key.to_owned())),
    })
}

/// The key an `x-amz-copy-source` names (`[/]bucket/key[?versionId=...]`, percent-encoded), as
/// `s3s` reads it; `None` when it names no key.
fn copy_source_key(source: &str) -> S3Result<Option<String>> {
    let source = source.split("?versionId=").next().unwrap_or_default();
    let source = percent_decode(source)
        .ok_or_else(|| s3_error!(InvalidArgument, "x-amz-copy-source is not UTF-8"))?;
    let source = source.strip_prefix('/').unwrap_or(&source);
    Ok(source.split_once('/').map(|(_, key)| key.to_owned()))
}

/// The names of a request's query parameters, as sent.
fn query_names(uri: &Uri) -> impl Iterator<Item = &str> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .map(parameter_name)
}

fn parameter_name(pair: &str) -> &str {
    pair.split_once('=').map_or(pair, |(name, _)| name)
}

/// Percent-decodes as `s3s` does: `%XX` becomes its byte, anything else (`+` included) stays;
/// `None` if the bytes are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let pair = bytes
            .get(i + 1..i + 3)
            .filter(|p| p.iter().all(u8::is_ascii_hexdigit));
        match (bytes[i], pair) {
            (b'%', Some(pair)) => {
                out.push(hex_value(pair[0]) * 16 + hex_value(pair[1]));
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

/// Whether `folder` holds any file, however deep: every file in a bucket's folder is an object
/// that ListObjects shows, dotfiles included (`s3s-fs` keeps its own side files beside the
/// buckets, never in them). A folder that does not exist holds none.
fn holds_files(folder: &Path) -> std::io::Result<bool> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        // A symbolic link counts as a file and is not followed, so no link makes a loop.
        if !entry.file_type()?.is_dir() || holds_files(&entry.path())? {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, uri: &str) -> Request<Body> {
        Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap()
    }

    #[test]
    fn encoding_type_is_dropped_and_every_other_parameter_kept_as_sent() {
        let mut listing = request(
            Method::GET,
            "http://h/b?list-type=2&encoding-type=url&prefix=a%2Bb",
        );
        without_encoding_type(&mut listing);
        assert_eq!(
            listing.uri().to_string(),
            "http://h/b?list-type=2&prefix=a%2Bb"
        );

        let mut only = request(Method::GET, "/b?encoding-type=url");
        without_encoding_type(&mut only);
        assert_eq!(only.uri().to_string(), "/b");
    }

    #[test]
    fn keys_with_dot_segments_or_a_leading_slash_are_refused_and_others_are_not() {
        for key in ["../x", "a/../../x", "a/./b", ".", "a/..", "/abs/x", "a//b"] {
            assert!(check_key(key).is_err(), "{key}");
        }
        for key in [
            "a/b.csv",
            ".hidden",
            "a/..b/c",
            "a..",
            "ts+00:00 50%.csv",
            "folder/",
        ] {
            assert!(check_key(key).is_ok(), "{key}");
        }
    }

    #[test]
    fn a_percent_encoded_dot_dot_in_the_path_or_the_copy_source_is_refused() {
        let put = request(Method::PUT, "/buck1/..%2Fdata%2Fx.csv");
        assert_eq!(
            check_keys(&put).unwrap_err().code(),
            &s3s::S3ErrorCode::InvalidArgument
        );

        let mut copy = request(Method::PUT, "/buck1/copy.csv");
        copy.headers_mut().insert(
            "x-amz-copy-source",
            "/buck1/%2E%2E/data/x.csv?versionId=1".parse().unwrap(),
        );
        assert!(check_keys(&copy).is_err());
        assert_eq!(
            copy_source_key("b/k%20ey?versionId=..").unwrap().as_deref(),
            Some("k ey")
        );
    }

    #[test]
    fn paths_split_into_bucket_and_key_as_s3s_splits_them() {
        let split = |uri: &str| bucket_and_key(&uri.parse().unwrap()).unwrap();
        assert_eq!(split("/b"), ("b".into(), None));
        assert_eq!(split("/b/"), ("b".into(), None));
        assert_eq!(split("/b/a%2Bb/c"), ("b".into(), Some("a+b/c".into())));
        assert_eq!(split("/b//x"), ("b".into(), Some("/x".into())));
        assert_eq!(percent_decode("%zz%4"), Some("%zz%4".into()));
        assert_eq!(percent_decode("%+1"), Some("%+1".into()));
        assert_eq!(percent_decode("%FF"), None);
    }

    /// What [`prepare`](super::super::prepare) does with a request that may be DeleteBucket.
    async fn check_delete_bucket(root: &Path, method: Method, uri: &str) -> S3Result<()> {
        let folder = deleted_bucket_folder(&request(method, uri), root)?;
        match folder {
            Some(folder) => check_bucket_empty(folder).await,
            None => Ok(()),
        }
    }

    #[tokio::test]
    async fn only_a_plain_delete_bucket_on_a_bucket_holding_files_is_refused() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("full/deep/er")).unwrap();
        std::fs::write(root.path().join("full/deep/er/.env"), "x").unwrap();
        std::fs::create_dir_all(root.path().join("hollow/empty/folders")).unwrap();
        let check =
            |method: Method, uri: &'static str| check_delete_bucket(root.path(), method, uri);

        let refused = check(Method::DELETE, "/full").await.unwrap_err();
        assert_eq!(refused.code(), &s3s::S3ErrorCode::BucketNotEmpty);
        assert!(
            check(Method::DELETE, "/full/?x-id=DeleteBucket")
                .await
                .is_err()
        );

        assert!(check(Method::DELETE, "/hollow").await.is_ok());
        assert!(check(Method::DELETE, "/missing").await.is_ok());
        assert!(check(Method::DELETE, "/full?tagging").await.is_ok());
        assert!(check(Method::DELETE, "/full/deep/er/.env").await.is_ok());
        assert!(check(Method::GET, "/full").await.is_ok());
    }

    #[tokio::test]
    async fn delete_objects_naming_a_key_outside_the_bucket_is_refused_and_others_pass_whole() {
        let body = |key: &str| {
            format!(
                "<Delete><Object><Key>{key}</Key></Object><Object><Key>ok</Key></Object></Delete>"
            )
        };
        let post = |key: &str| {
            Request::builder()
                .method(Method::POST)
                .uri("/b?delete")
                .body(Body::from(body(key)))
                .unwrap()
        };

        assert!(check_delete_objects(post("../other/x.csv")).await.is_err());

        let passed = check_delete_objects(post("a/x.csv")).await.unwrap();
        let sent = passed.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(sent, body("a/x.csv").as_bytes());
    }

    #[test]
    fn reading_a_folder_as_an_object_is_no_such_key() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("data/slices/week-1")).unwrap();
        std::fs::write(root.path().join("data/slices/week-1/part.csv"), "x").unwrap();
        for uri in ["/data/slices", "/data/slices/", "/data/slices/week-1"] {
            for method in [Method::GET, Method::HEAD] {
                let error =
                    check_object_is_not_folder(&request(method, uri), root.path()).unwrap_err();
                assert_eq!(error.code(), &s3s::S3ErrorCode::NoSuchKey, "{uri}");
            }
        }
        let file = request(Method::GET, "/data/slices/week-1/part.csv");
        assert!(check_object_is_not_folder(&file, root.path()).is_ok());
        let listing = request(Method::GET, "/data?list-type=2&prefix=slices/");
        assert!(check_object_is_not_folder(&listing, root.path()).is_ok());
        let put = request(Method::PUT, "/data/slices");
        assert!(check_object_is_not_folder(&put, root.path()).is_ok());
    }

    #[test]
    fn a_form_upload_is_refused() {
        let mut form = request(Method::POST, "/b");
        form.headers_mut().insert(
            header::CONTENT_TYPE,
            "multipart/form-data; boundary=x".parse().unwrap(),
        );
        assert!(check_not_form_upload(&form).is_err());
        assert!(check_not_form_upload(&request(Method::POST, "/b?delete")).is_ok());
    }
}
