//! S3 through the official `aws-sdk-s3` client: CreateBucket, PutObject, GetObject,
//! ListObjectsV2, and the object as a plain file under the S3 folder. A body streamed from a file
//! is sent by the SDK in the signed `aws-chunked` encoding with a trailing checksum, which the
//! endpoint must decode; an in-memory body is sent plain with its checksum in a header.

use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::primitives::ByteStream;
use e2e_tests::{Harness, TestResult};

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
