//! The objects an S3 event reports created, read from either form it arrives in:
//!
//! - **EventBridge** (what the deployment uses: the bucket sends its events to EventBridge and a
//!   rule targets this function): one object, `detail-type` `Object Created`, in
//!   `detail.bucket.name` and `detail.object` (`key`, `size`, `etag`, `sequencer`). The key is
//!   the object's key as it is.
//! - **S3 event notifications** (what S3 sends a Lambda function directly, and what recorded
//!   events often are): `Records[]`, each an `ObjectCreated:*` record with `s3.bucket.name` and
//!   `s3.object` (`key`, `size`, `eTag`, `sequencer`). The key is URL-encoded as a form is
//!   (`red flower.jpg` arrives as `red+flower.jpg`, `+` as `%2B`), so it is decoded here.
//!
//! Anything else is [`StartError::InvalidEvent`], naming the field at fault.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::s3::S3Event;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::StartError;

/// The `detail-type` of the EventBridge event S3 sends when an object is created.
pub const OBJECT_CREATED: &str = "Object Created";

/// The `source` of the EventBridge events S3 sends.
pub const S3_SOURCE: &str = "aws.s3";

/// An object S3 reported created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedObject {
    /// The bucket.
    pub bucket: String,
    /// The object's key, decoded.
    pub key: String,
    /// The object's ETag, without quotes: what tells two contents of one key apart.
    pub etag: String,
    /// The object's size in bytes, when the event says.
    pub size: Option<u64>,
    /// S3's sequencer of the write, when the event says: later writes of a key have greater
    /// ones, and a duplicated delivery of an event has the same.
    pub sequencer: Option<String>,
}

/// Reads the objects an event reports created: one for an EventBridge event, one per record
/// for an S3 notification.
pub fn created_objects(event: &Value) -> Result<Vec<CreatedObject>, StartError> {
    let Some(fields) = event.as_object() else {
        return Err(invalid("the event is not a JSON object"));
    };
    if fields.contains_key("detail-type") {
        return from_eventbridge(event).map(|object| vec![object]);
    }
    if fields.contains_key("Records") {
        return from_notification(event);
    }
    Err(invalid(
        "the event is neither an EventBridge event (it has no detail-type) nor an S3 event notification (it has no Records)",
    ))
}

/// The detail of an EventBridge `Object Created` event, as far as a run needs it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ObjectCreatedDetail {
    #[serde(default)]
    bucket: Option<BucketDetail>,
    #[serde(default)]
    object: Option<ObjectDetail>,
}

#[derive(Debug, Deserialize)]
struct BucketDetail {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ObjectDetail {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    sequencer: Option<String>,
}

fn from_eventbridge(event: &Value) -> Result<CreatedObject, StartError> {
    let envelope: EventBridgeEvent<Value> = read(event, "")?;
    if envelope.detail_type != OBJECT_CREATED {
        return Err(invalid(format!(
            "detail-type: {:?} is not {OBJECT_CREATED:?}: only new objects start a run",
            envelope.detail_type
        )));
    }
    if envelope.source != S3_SOURCE {
        return Err(invalid(format!(
            "source: {:?} is not {S3_SOURCE:?}",
            envelope.source
        )));
    }
    let detail: ObjectCreatedDetail = read(&envelope.detail, "detail.")?;
    let bucket = detail.bucket.and_then(|b| b.name);
    let object = detail.object.ok_or_else(|| absent("detail.object"))?;
    Ok(CreatedObject {
        bucket: required(bucket, "detail.bucket.name")?,
        key: required(object.key, "detail.object.key")?,
        etag: unquoted(required(object.etag, "detail.object.etag")?),
        size: object.size,
        sequencer: object.sequencer.filter(|s| !s.is_empty()),
    })
}

fn from_notification(event: &Value) -> Result<Vec<CreatedObject>, StartError> {
    let notification: S3Event = read(event, "")?;
    if notification.records.is_empty() {
        return Err(invalid("Records: the notification holds no records"));
    }
    let mut objects = Vec::with_capacity(notification.records.len());
    for (i, record) in notification.records.into_iter().enumerate() {
        let at = format!("Records[{i}]");
        let source = record.event_source.unwrap_or_default();
        if source != "aws:s3" {
            return Err(invalid(format!(
                "{at}.eventSource: {source:?} is not \"aws:s3\""
            )));
        }
        let name = record.event_name.unwrap_or_default();
        if !name.starts_with("ObjectCreated:") {
            return Err(invalid(format!(
                "{at}.eventName: {name:?} is not an ObjectCreated event: only new objects start a run"
            )));
        }
        let object = record.s3.object;
        let key_at = format!("{at}.s3.object.key");
        let key = required(object.key, &key_at)?;
        let key = decode_key(&key).map_err(|why| invalid(format!("{key_at}: {why}")))?;
        let size = match object.size {
            Some(size) => Some(
                u64::try_from(size)
                    .map_err(|_| invalid(format!("{at}.s3.object.size: {size} is not a size")))?,
            ),
            None => None,
        };
        objects.push(CreatedObject {
            bucket: required(record.s3.bucket.name, &format!("{at}.s3.bucket.name"))?,
            key,
            etag: unquoted(required(object.e_tag, &format!("{at}.s3.object.eTag"))?),
            size,
            sequencer: object.sequencer.filter(|s| !s.is_empty()),
        });
    }
    Ok(objects)
}

/// Decodes a key as S3 notifications encode it (`application/x-www-form-urlencoded`): `+` is a
/// space and `%XX` a byte, the bytes being UTF-8.
pub fn decode_key(encoded: &str) -> Result<String, String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        format!("{encoded:?} has a '%' at byte {i} that is not followed by two hex digits")
                    })?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("{encoded:?} does not decode to UTF-8"))
}

/// Reads `value` as `T`, naming the field at fault under `prefix`.
fn read<T: DeserializeOwned>(value: &Value, prefix: &str) -> Result<T, StartError> {
    serde_path_to_error::deserialize(value).map_err(
        |e: serde_path_to_error::Error<serde_json::Error>| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let at = format!("{prefix}{path}");
            let at = at.trim_end_matches('.');
            if at.is_empty() {
                invalid(e.inner())
            } else {
                invalid(format!("{at}: {}", e.inner()))
            }
        },
    )
}

fn required(value: Option<String>, at: &str) -> Result<String, StartError> {
    value.filter(|v| !v.is_empty()).ok_or_else(|| absent(at))
}

fn absent(at: &str) -> StartError {
    invalid(format!("{at}: absent or empty"))
}

fn unquoted(etag: String) -> String {
    etag.trim_matches('"').to_owned()
}

fn invalid(message: impl std::fmt::Display) -> StartError {
    StartError::InvalidEvent(format!("S3 event: {message}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const EVENTBRIDGE: &str = include_str!("../tests/events/eventbridge-object-created.json");
    const NOTIFICATION: &str = include_str!("../tests/events/s3-notification.json");

    fn message(event: &Value) -> String {
        match created_objects(event) {
            Err(StartError::InvalidEvent(message)) => message,
            other => panic!("not an invalid event: {other:?}"),
        }
    }

    #[test]
    fn an_eventbridge_event_is_one_object_whose_key_is_taken_as_it_is() {
        let event: Value = serde_json::from_str(EVENTBRIDGE).unwrap();
        let objects = created_objects(&event).unwrap();
        assert_eq!(
            objects,
            [CreatedObject {
                bucket: "my-data-bucket".into(),
                key: "movielens/interactions/2026-01-05 export+1.csv".into(),
                etag: "4af981f98d22a0b9979da24b259e5e42".into(),
                size: Some(2_120_000),
                sequencer: Some("0064D3901D00059242".into()),
            }]
        );
    }

    #[test]
    fn a_notification_is_one_object_per_record_with_its_key_decoded() {
        let event: Value = serde_json::from_str(NOTIFICATION).unwrap();
        let objects = created_objects(&event).unwrap();
        let keys: Vec<&str> = objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "movielens/interactions/2026-01-05 export+1.csv",
                "movielens/users/dt=2026-01-05/_SUCCESS"
            ]
        );
        assert_eq!(objects[0].etag, "4af981f98d22a0b9979da24b259e5e42");
        assert_eq!(objects[1].size, Some(0));
    }

    #[test]
    fn keys_decode_as_forms_encode_them() {
        assert_eq!(decode_key("red+flower.jpg").unwrap(), "red flower.jpg");
        assert_eq!(decode_key("a%2Bb%3D1%2Fc").unwrap(), "a+b=1/c");
        assert_eq!(
            decode_key("caf%C3%A9/%E6%97%A5.csv").unwrap(),
            "café/日.csv"
        );
        assert_eq!(decode_key("plain/key.csv").unwrap(), "plain/key.csv");
        assert!(decode_key("100%").unwrap_err().contains("'%'"));
        assert!(decode_key("a%zz").unwrap_err().contains("two hex digits"));
        assert!(decode_key("%FF").unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn another_kind_of_event_is_refused_naming_the_field() {
        let mut deleted: Value = serde_json::from_str(EVENTBRIDGE).unwrap();
        deleted["detail-type"] = "Object Deleted".into();
        assert!(message(&deleted).contains("detail-type: \"Object Deleted\""));

        let mut ec2: Value = serde_json::from_str(EVENTBRIDGE).unwrap();
        ec2["source"] = "aws.ec2".into();
        assert!(message(&ec2).contains("source: \"aws.ec2\""));

        let mut removed: Value = serde_json::from_str(NOTIFICATION).unwrap();
        removed["Records"][1]["eventName"] = "ObjectRemoved:Delete".into();
        assert!(message(&removed).contains("Records[1].eventName"));

        let mut sqs: Value = serde_json::from_str(NOTIFICATION).unwrap();
        sqs["Records"][0]["eventSource"] = "aws:sqs".into();
        assert!(message(&sqs).contains("Records[0].eventSource"));

        assert!(message(&json!({"hello": "world"})).contains("neither"));
        assert!(message(&json!([1, 2])).contains("not a JSON object"));
        assert!(message(&json!({"Records": []})).contains("Records: "));
    }

    /// A field an error message must name, and the edit of an event that breaks it.
    type Breakage = (&'static str, fn(&mut Value));

    #[test]
    fn a_malformed_event_names_the_field_at_fault() {
        let cases: [Breakage; 7] = [
            ("detail.object.key", |e| {
                e["detail"]["object"]["key"] = "".into()
            }),
            ("detail.object.etag", |e| {
                e["detail"]["object"]
                    .as_object_mut()
                    .unwrap()
                    .remove("etag");
            }),
            ("detail.bucket.name", |e| e["detail"]["bucket"] = json!({})),
            ("detail.object.size", |e| {
                e["detail"]["object"]["size"] = "big".into()
            }),
            ("detail.object", |e| {
                e["detail"].as_object_mut().unwrap().remove("object");
            }),
            ("detail-type", |e| e["detail-type"] = 7.into()),
            ("source", |e| {
                e.as_object_mut().unwrap().remove("source");
            }),
        ];
        for (field, edit) in cases {
            let mut event: Value = serde_json::from_str(EVENTBRIDGE).unwrap();
            edit(&mut event);
            let message = message(&event);
            assert!(message.contains(field), "{field}: {message}");
        }

        let cases: [Breakage; 4] = [
            ("Records[0].s3.object.key", |e| {
                e["Records"][0]["s3"]["object"]["key"] = "bad%4".into()
            }),
            ("Records[1].s3.object.eTag", |e| {
                e["Records"][1]["s3"]["object"]
                    .as_object_mut()
                    .unwrap()
                    .remove("eTag");
            }),
            ("Records[0].s3.bucket.name", |e| {
                e["Records"][0]["s3"]["bucket"]["name"] = "".into()
            }),
            ("Records[1]: missing field `s3`", |e| {
                e["Records"][1].as_object_mut().unwrap().remove("s3");
            }),
        ];
        for (field, edit) in cases {
            let mut event: Value = serde_json::from_str(NOTIFICATION).unwrap();
            edit(&mut event);
            let message = message(&event);
            assert!(message.contains(field), "{field}: {message}");
        }
    }
}
