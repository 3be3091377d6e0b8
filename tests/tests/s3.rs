//! S3 through the official `aws-sdk-s3` client: CreateBucket, PutObject, GetObject,
//! ListObjectsV2, and the object as a plain file under the S3 folder. A body streamed from a file
//! is sent by the SDK in the signed `aws-chunked` encoding with a trailing checksum, which the
//! endpoint must decode; an in-memory body is sent plain with its checksum in a header.
//!
//! Where S3 over a folder differs from a bucket, the endpoint answers as S3 does or refuses:
//! a bucket that holds objects is not deleted, a key whose `.` or `..` segments would name a
//! file outside its bucket is refused, and listed keys come back exactly as they were put.

use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::EncodingType;
use e2e_tests::{Harness, TestResult};
use http::{Method, StatusCode};

/// A body of several SDK chunks (the SDK frames a streamed body in 64 KiB chunks).
fn large_body() -> Vec<u8> {
    (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect()
}

/// Remembers the `x-amz-content-sha256` header of every request sent, which says how the
/// body is framed (`STREAMING-...` for `aws-chunked`).
#[derive(Debug, Default, Clone)]
struct PayloadKinds(Arc<Mutex<Vec<String>>>);

impl PayloadKinds {
    fn taken(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("not poisoned"))
    }
}

impl Intercept for PayloadKinds {
    fn name(&self) -> &'static str {
        "PayloadKinds"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let kind = context
            .request()
            .headers()
            .get("x-amz-content-sha256")
            .unwrap_or_default()
            .to_owned();
        self.0.lock().expect("not poisoned").push(kind);
        Ok(())
    }
}

/// GETs an object and returns its bytes.
async fn get(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, e2e_tests::Error> {
    let got = s3.get_object().bucket(bucket).key(key).send().await?;
    Ok(got.body.collect().await?.into_bytes().to_vec())
}

#[tokio::test]
async fn an_object_put_through_the_sdk_reads_back_the_same_bytes_and_is_a_plain_file() -> TestResult
{
    let h = Harness::start().await;
    let kinds = PayloadKinds::default();
    let s3 = aws_sdk_s3::Client::from_conf(
        h.s3.config()
            .to_builder()
            .interceptor(kinds.clone())
            .build(),
    );
    let body = large_body();
    let source = tempfile::NamedTempFile::new()?;
    std::fs::write(source.path(), &body)?;
    s3.create_bucket().bucket("training-data").send().await?;
    kinds.taken();

    // WHEN one object is streamed from a file and another sent from memory
    s3.put_object()
        .bucket("training-data")
        .key("movies/streamed.csv")
        .body(ByteStream::from_path(source.path()).await?)
        .send()
        .await?;
    s3.put_object()
        .bucket("training-data")
        .key("movies/in-memory.csv")
        .body(ByteStream::from(body.clone()))
        .send()
        .await?;

    // THEN the first went in the aws-chunked encoding and the second did not
    let sent = kinds.taken();
    assert!(
        sent[0].starts_with("STREAMING-"),
        "the streamed body is aws-chunked: {sent:?}"
    );
    assert!(!sent[1].starts_with("STREAMING-"), "{sent:?}");

    // AND both read back as the bytes put, and are plain files holding them
    for key in ["movies/streamed.csv", "movies/in-memory.csv"] {
        let read = get(&s3, "training-data", key).await?;
        assert!(read == body, "GetObject {key} answers the bytes put");
        let on_disk = std::fs::read(h.s3_root().join("training-data").join(key))?;
        assert!(
            on_disk == body,
            "{key} is a plain file holding the bytes, not their aws-chunked framing"
        );
    }
    let head = s3
        .head_object()
        .bucket("training-data")
        .key("movies/streamed.csv")
        .send()
        .await?;
    assert_eq!(head.content_length(), Some(body.len() as i64));
    h.stop().await
}

#[tokio::test]
async fn list_objects_v2_lists_the_keys_under_a_prefix_with_their_sizes() -> TestResult {
    let h = Harness::start().await;
    let bucket = h.bucket().await;
    h.upload(bucket, "daily/part-1.csv", "a,b\n1,2\n").await;
    h.upload(bucket, "daily/part-2.csv", "a,b\n3,4\n5,6\n")
        .await;
    h.upload(bucket, "weekly/part-1.csv", "a,b\n").await;

    let listed =
        h.s3.list_objects_v2()
            .bucket(bucket)
            .prefix("daily/")
            .send()
            .await?;

    let objects: Vec<(&str, Option<i64>)> = listed
        .contents()
        .iter()
        .map(|o| (o.key().unwrap_or_default(), o.size()))
        .collect();
    assert_eq!(
        objects,
        [
            ("daily/part-1.csv", Some(8)),
            ("daily/part-2.csv", Some(12))
        ]
    );
    h.stop().await
}

#[tokio::test]
async fn getting_a_key_that_does_not_exist_is_no_such_key() -> TestResult {
    let h = Harness::start().await;
    let bucket = h.bucket().await;

    let err =
        h.s3.get_object()
            .bucket(bucket)
            .key("nothing/here.csv")
            .send()
            .await
            .expect_err("no such key")
            .into_service_error();

    assert!(err.is_no_such_key(), "{err:?}");
    h.stop().await
}

#[tokio::test]
async fn a_file_written_under_the_s3_folder_is_an_object() -> TestResult {
    let h = Harness::start().await;
    let bucket = h.bucket().await;
    let folder = h.s3_root().join(bucket).join("exports");
    std::fs::create_dir_all(&folder)?;
    std::fs::write(folder.join("items.csv"), "ITEM_ID\ni1\n")?;

    let got =
        h.s3.get_object()
            .bucket(bucket)
            .key("exports/items.csv")
            .send()
            .await?;

    let read = got.body.collect().await?.into_bytes();
    assert_eq!(&read[..], b"ITEM_ID\ni1\n");
    h.stop().await
}

/// The HTTP status and the S3 error code of a failed SDK call.
fn status_and_code<E: ProvideErrorMetadata>(
    err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> (Option<u16>, Option<&str>) {
    (err.raw_response().map(|r| r.status().as_u16()), err.code())
}

#[tokio::test]
async fn deleting_a_bucket_that_holds_objects_is_bucket_not_empty_and_keeps_them() -> TestResult {
    let h = Harness::start().await;
    let bucket = h.bucket().await;
    h.upload(bucket, "daily/part-1.csv", "a,b\n1,2\n").await;

    // WHEN the bucket is deleted while it holds an object
    let err =
        h.s3.delete_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect_err("the bucket is not empty");

    // THEN S3 answers 409 BucketNotEmpty, as a bucket does, and the object is still there
    assert_eq!(
        status_and_code(&err),
        (Some(409), Some("BucketNotEmpty")),
        "{err:?}"
    );
    assert_eq!(get(&h.s3, bucket, "daily/part-1.csv").await?, b"a,b\n1,2\n");

    // AND once its objects are deleted, the bucket can be
    h.s3.delete_object()
        .bucket(bucket)
        .key("daily/part-1.csv")
        .send()
        .await?;
    h.s3.delete_bucket().bucket(bucket).send().await?;
    assert!(!h.s3_root().join(bucket).exists());
    h.stop().await
}

#[tokio::test]
async fn a_key_with_a_dot_or_dot_dot_segment_is_refused_and_nothing_lands_outside_its_bucket()
-> TestResult {
    let h = Harness::start().await;
    for bucket in ["buck1", "data"] {
        h.s3.create_bucket().bucket(bucket).send().await?;
    }
    h.upload("data", "secret.csv", "a,b\n").await;

    // WHEN keys that would climb out of the bucket, or name one file twice, are put or read
    for key in [
        "../data/overwrite.csv",
        "../../escape.txt",
        "daily/./part-1.csv",
        "daily/..",
    ] {
        let err =
            h.s3.put_object()
                .bucket("buck1")
                .key(key)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
                .expect_err(key);

        // THEN each is refused with 400 InvalidArgument
        assert_eq!(
            status_and_code(&err),
            (Some(400), Some("InvalidArgument")),
            "PutObject {key}: {err:?}"
        );
    }
    let err =
        h.s3.get_object()
            .bucket("buck1")
            .key("../data/secret.csv")
            .send()
            .await
            .expect_err("a key outside the bucket");
    assert_eq!(
        status_and_code(&err),
        (Some(400), Some("InvalidArgument")),
        "{err:?}"
    );

    // AND so is the same key percent-encoded by hand, as no SDK would send it
    let (status, body) = h
        .http(Method::PUT, "/buck1/..%2Fdata%2Foverwrite.csv", &[], "x")
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("<Code>InvalidArgument</Code>"), "{body}");
    assert!(body.contains("S3 is a folder"), "{body}");

    // AND nothing was written anywhere
    let root = h.s3_root();
    for path in [
        root.join("data/overwrite.csv"),
        root.join("escape.txt"),
        root.join("../escape.txt"),
        root.join("buck1/daily"),
    ] {
        assert!(!path.exists(), "{} was written", path.display());
    }
    h.stop().await
}

#[tokio::test]
async fn a_copy_whose_source_key_leaves_its_bucket_is_refused() -> TestResult {
    let h = Harness::start().await;
    for bucket in ["buck1", "data"] {
        h.s3.create_bucket().bucket(bucket).send().await?;
    }
    h.upload("data", "secret.csv", "a,b\n").await;

    // WHEN an object is copied from a source key that climbs into another bucket
    for source in ["buck1/../data/secret.csv", "buck1/..%2Fdata%2Fsecret.csv"] {
        let err =
            h.s3.copy_object()
                .bucket("buck1")
                .key("copy.csv")
                .copy_source(source)
                .send()
                .await
                .expect_err(source);

        // THEN the copy is refused with 400 InvalidArgument and nothing is written
        assert_eq!(
            status_and_code(&err),
            (Some(400), Some("InvalidArgument")),
            "CopyObject from {source}: {err:?}"
        );
        assert!(!h.s3_root().join("buck1/copy.csv").exists());
    }

    // AND a copy that names the other bucket plainly works
    h.s3.copy_object()
        .bucket("buck1")
        .key("copy.csv")
        .copy_source("data/secret.csv")
        .send()
        .await?;
    assert_eq!(get(&h.s3, "buck1", "copy.csv").await?, b"a,b\n");
    h.stop().await
}

/// A key with the characters URL encodings treat specially: `+` (a space in a form encoding),
/// `%` and a space.
const ODD_KEY: &str = "events/ts+00:00 50%.csv";

/// A listed key as a client must read it: URL-decoded, `+` as a space (as boto3 does), when the
/// listing says its keys are URL-encoded; as it is otherwise.
fn listed_key(encoding: Option<&EncodingType>, key: &str) -> String {
    if encoding != Some(&EncodingType::Url) {
        return key.to_owned();
    }
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_listed_key_with_plus_percent_and_space_reads_back_exactly_in_either_encoding()
-> TestResult {
    let h = Harness::start().await;
    let bucket = h.bucket().await;
    h.upload(bucket, ODD_KEY, "a,b\n").await;

    // The Rust SDK sends `encoding-type=url` only when asked; boto3 always asks.
    for encoding in [None, Some(EncodingType::Url)] {
        // WHEN the bucket is listed, by ListObjectsV2 and by ListObjects
        let v2 =
            h.s3.list_objects_v2()
                .bucket(bucket)
                .set_encoding_type(encoding.clone())
                .send()
                .await?;
        let v1 =
            h.s3.list_objects()
                .bucket(bucket)
                .set_encoding_type(encoding.clone())
                .send()
                .await?;
        let listed: Vec<String> = v2
            .contents()
            .iter()
            .map(|o| listed_key(v2.encoding_type(), o.key().unwrap_or_default()))
            .chain(
                v1.contents()
                    .iter()
                    .map(|o| listed_key(v1.encoding_type(), o.key().unwrap_or_default())),
            )
            .collect();

        // THEN both listings name the key exactly as it was put, once it is read as they say
        assert_eq!(listed, [ODD_KEY, ODD_KEY], "encoding {encoding:?}");

        // AND GetObject on the listed key finds the object
        assert_eq!(get(&h.s3, bucket, &listed[0]).await?, b"a,b\n");
    }
    h.stop().await
}
