//! S3 over a folder, with `s3s` and `s3s-fs`, open to any caller.
//!
//! `s3s` checks SigV4 signatures against secret keys it knows, but a local endpoint cannot
//! know the caller's secret. So requests are made anonymous before `s3s` sees them: the
//! `Authorization` header is dropped, and a body sent in the signed `aws-chunked` encoding is
//! decoded here into plain bytes. Presigned URLs are not served.
//!
//! Where a folder would not behave as a bucket, [`guard`] answers as S3 does or refuses the
//! request before `s3s-fs` sees it.

mod guard;

use std::path::Path;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, header};
use http_body_util::BodyExt;
use s3s::access::{S3Access, S3AccessContext};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3Result, s3_error};

/// Lets every request through: the local endpoint trusts its callers.
struct OpenAccess;

#[async_trait::async_trait]
impl S3Access for OpenAccess {
    async fn check(&self, _cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        Ok(())
    }
}

/// Builds the S3 service over `root`, which must exist.
pub fn service(root: &std::path::Path) -> std::io::Result<S3Service> {
    let fs = s3s_fs::FileSystem::new(root).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_access(OpenAccess);
    Ok(builder.build())
}

/// Readies a request for the S3 service over `root`: anonymous, with a plain body, and refused
/// where the folder would not behave as a bucket.
pub async fn prepare(
    mut request: Request<axum::body::Body>,
    root: &Path,
) -> Result<Request<axum::body::Body>, s3s::S3Error> {
    guard::without_encoding_type(&mut request);
    // Checks that need no body come first, so a refused upload is never read.
    guard::check_keys(&request)?;
    guard::check_not_form_upload(&request)?;
    guard::check_object_is_not_folder(&request, root)?;
    if let Some(folder) = guard::deleted_bucket_folder(&request, root)? {
        guard::check_bucket_empty(folder).await?;
    }

    let request = unsign(request).await?;
    guard::check_delete_objects(request).await
}

/// Makes a signed request anonymous, decoding an `aws-chunked` body if it has one.
async fn unsign(
    request: Request<axum::body::Body>,
) -> Result<Request<axum::body::Body>, s3s::S3Error> {
    let (mut parts, body) = request.into_parts();
    parts.headers.remove(header::AUTHORIZATION);
    let streaming = parts
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("STREAMING-"));
    if !streaming {
        return Ok(Request::from_parts(parts, body));
    }

    let framed = body
        .collect()
        .await
        .map_err(|e| s3_error!(IncompleteBody, "the request body could not be read: {e}"))?
        .to_bytes();
    let (data, trailers) = decode_aws_chunked(&framed)
        .ok_or_else(|| s3_error!(InvalidRequest, "the aws-chunked request body is malformed"))?;
    plain_headers(&mut parts.headers, data.len(), &trailers);
    Ok(Request::from_parts(parts, axum::body::Body::from(data)))
}

/// Rewrites the headers of a decoded `aws-chunked` request to describe a plain body.
fn plain_headers(headers: &mut HeaderMap, length: usize, trailers: &[(String, String)]) {
    let encodings: Vec<String> = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
        .map(str::to_owned)
        .collect();
    if encodings.is_empty() {
        headers.remove(header::CONTENT_ENCODING);
    } else if let Ok(v) = HeaderValue::from_str(&encodings.join(",")) {
        headers.insert(header::CONTENT_ENCODING, v);
    }
    for name in [
        "x-amz-decoded-content-length",
        "x-amz-trailer",
        "transfer-encoding",
    ] {
        headers.remove(name);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(
        "x-amz-content-sha256",
        HeaderValue::from_static("UNSIGNED-PAYLOAD"),
    );
    // A checksum sent as a trailer becomes the header it stands for, so it is still checked.
    for (name, value) in trailers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
}

/// Decodes an `aws-chunked` body: `<hex size>[;extensions]\r\n<data>\r\n`, repeated, ending
/// with a zero-size chunk and optional `name:value` trailer lines.
fn decode_aws_chunked(mut input: &[u8]) -> Option<(Bytes, Vec<(String, String)>)> {
    let mut out = BytesMut::new();
    loop {
        let line_end = input.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&input[..line_end]).ok()?;
        let size_text = line.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        input = &input[line_end + 2..];
        if size == 0 {
            break;
        }
        // The size comes from the caller: `checked_add` keeps a huge one from overflowing.
        let end = size.checked_add(2)?;
        if input.len() < end || &input[size..end] != b"\r\n" {
            return None;
        }
        out.extend_from_slice(&input[..size]);
        input = &input[size + 2..];
    }
    let mut trailers = Vec::new();
    for line in std::str::from_utf8(input).ok()?.split("\r\n") {
        if let Some((name, value)) = line.split_once(':')
            && !name.eq_ignore_ascii_case("x-amz-trailer-signature")
        {
            trailers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    Some((out.freeze(), trailers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_chunks_with_a_trailer_decode_to_the_payload() {
        let body = b"5;chunk-signature=abc\r\nhello\r\n6;chunk-signature=def\r\n world\r\n0;chunk-signature=0\r\nx-amz-checksum-crc32:DUoRhQ==\r\nx-amz-trailer-signature:xyz\r\n\r\n";
        let (data, trailers) = decode_aws_chunked(body).unwrap();
        assert_eq!(&data[..], b"hello world");
        assert_eq!(
            trailers,
            vec![("x-amz-checksum-crc32".to_owned(), "DUoRhQ==".to_owned())]
        );
    }

    #[test]
    fn unsigned_chunks_decode_and_truncated_ones_do_not() {
        let (data, trailers) = decode_aws_chunked(b"3\r\nabc\r\n0\r\n\r\n").unwrap();
        assert_eq!((&data[..], trailers.len()), (&b"abc"[..], 0));
        assert!(decode_aws_chunked(b"a\r\nabc\r\n0\r\n\r\n").is_none());
        assert!(decode_aws_chunked(b"zz\r\n").is_none());
        assert!(decode_aws_chunked(b"ffffffffffffffff\r\nabc\r\n0\r\n\r\n").is_none());
    }

    #[test]
    fn headers_of_a_decoded_body_describe_plain_bytes() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("aws-chunked"),
        );
        headers.insert(
            "x-amz-decoded-content-length",
            HeaderValue::from_static("11"),
        );
        headers.insert(
            "x-amz-trailer",
            HeaderValue::from_static("x-amz-checksum-crc32"),
        );
        plain_headers(
            &mut headers,
            11,
            &[("x-amz-checksum-crc32".into(), "DUoRhQ==".into())],
        );
        assert!(headers.get(header::CONTENT_ENCODING).is_none());
        assert_eq!(headers[header::CONTENT_LENGTH], "11");
        assert_eq!(headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
        assert_eq!(headers["x-amz-checksum-crc32"], "DUoRhQ==");
        assert!(headers.get("x-amz-trailer").is_none());
    }
}
