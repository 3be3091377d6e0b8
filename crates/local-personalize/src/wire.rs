//! The AWS JSON 1.1 protocol as Personalize speaks it: `POST /` with an `X-Amz-Target`
//! header, JSON in and out, errors as HTTP 400 with `__type` and `message`.

use http::{HeaderMap, HeaderValue, Response, StatusCode};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::service::Personalize;

/// The `X-Amz-Target` prefix of every Personalize operation.
pub const TARGET_PREFIX: &str = "AmazonPersonalize.";

/// The region used when a request's signature names none.
pub const DEFAULT_REGION: &str = "us-east-1";

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The Personalize operation a request targets, if it targets Personalize.
pub fn target_operation(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-amz-target")?
        .to_str()
        .ok()?
        .strip_prefix(TARGET_PREFIX)
}

/// The region a SigV4 `Authorization` header signs for, or the default region.
///
/// Signatures are read, never checked: the local endpoint trusts every caller.
pub fn signing_region(headers: &HeaderMap) -> &str {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|credential| credential.split('/').nth(2))
        .filter(|region| !region.is_empty())
        .unwrap_or(DEFAULT_REGION)
}

impl Personalize {
    /// Serves one HTTP request whose headers target Personalize.
    pub fn handle_http(&self, headers: &HeaderMap, body: &[u8]) -> Response<Vec<u8>> {
        let operation = target_operation(headers).unwrap_or_default().to_owned();
        let region = signing_region(headers).to_owned();
        let result = check_region(&region)
            .and_then(|()| parse_body(body))
            .and_then(|input| self.call(&region, &operation, &input));
        match result {
            Ok(output) => respond(StatusCode::OK, None, &output),
            Err(err) => {
                tracing::debug!(operation, error = err.error_type(), message = %err, "request refused");
                error_response(&err)
            }
        }
    }
}

/// An error as the AWS JSON 1.1 protocol answers it: the error's HTTP status, `__type` and
/// `message` in the body, and the type again in `x-amzn-errortype`.
pub fn error_response(err: &ApiError) -> Response<Vec<u8>> {
    let body = json!({ "__type": err.error_type(), "message": err.to_string() });
    let status = StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    respond(status, Some(err.error_type()), &body)
}

/// Refuses a signing region that is not shaped like one (`us-east-1`, `eu-central-2`,
/// `us-gov-west-1`): it would end up in ARNs.
fn check_region(region: &str) -> Result<(), ApiError> {
    let parts: Vec<&str> = region.split('-').collect();
    let valid = parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit());
    if valid {
        Ok(())
    } else {
        Err(ApiError::InvalidInput(format!(
            "the request is signed for region {region}, which is not a region name"
        )))
    }
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(ApiError::Serialization(
            "the request body must be a JSON object".into(),
        )),
        Err(e) => Err(ApiError::Serialization(format!(
            "the request body is not JSON: {e}"
        ))),
    }
}

fn respond(status: StatusCode, error_type: Option<&str>, body: &Value) -> Response<Vec<u8>> {
    let mut response = Response::new(serde_json::to_vec(body).unwrap_or_default());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(CONTENT_TYPE),
    );
    if let Some(t) = error_type.and_then(|t| HeaderValue::from_str(t).ok()) {
        headers.insert("x-amzn-errortype", t);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_the_signature_scope() {
        let mut headers = HeaderMap::new();
        assert_eq!(signing_region(&headers), DEFAULT_REGION);
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKID/20261203/eu-west-1/personalize/aws4_request, SignedHeaders=host, Signature=abc",
            ),
        );
        assert_eq!(signing_region(&headers), "eu-west-1");
    }

    #[test]
    fn a_region_that_cannot_be_in_an_arn_is_refused() {
        check_region("eu-west-1").unwrap();
        assert!(check_region("us-east-1:evil").is_err());
        check_region("us-gov-west-1").unwrap();
        assert!(check_region("US-EAST-1").is_err());
        assert!(check_region("personalize").is_err());
        assert!(check_region("-").is_err());
    }

    #[test]
    fn only_personalize_targets_are_recognised() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-target",
            HeaderValue::from_static("AmazonPersonalize.ListSchemas"),
        );
        assert_eq!(target_operation(&headers), Some("ListSchemas"));
        headers.insert(
            "x-amz-target",
            HeaderValue::from_static("AWSStepFunctions.StartExecution"),
        );
        assert_eq!(target_operation(&headers), None);
    }

    #[test]
    fn a_body_that_is_not_an_object_is_a_serialization_error() {
        assert_eq!(parse_body(b"").unwrap(), json!({}));
        assert_eq!(
            parse_body(b"[1]").unwrap_err().error_type(),
            "SerializationException"
        );
        assert_eq!(
            parse_body(b"{").unwrap_err().error_type(),
            "SerializationException"
        );
    }
}
