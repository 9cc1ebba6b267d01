//! `decode_error`: the kind from code, status and type, and a message whatever the body.

use super::*;

#[test]
fn kind_from_code_then_status_then_type() {
    let body = br#"{"error":{"message":"Incorrect API key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
    let e = decode_error(400, body);
    assert_eq!(e.kind, ErrorKind::Authentication);
    assert_eq!(e.message, "Incorrect API key");
    assert_eq!(e.code.as_deref(), Some("invalid_api_key"));
    let body = br#"{"error":{"message":"slow down","type":"server_error"}}"#;
    assert_eq!(decode_error(503, body).kind, ErrorKind::Overloaded);
    assert_eq!(decode_error(500, body).kind, ErrorKind::Server);
    let body = br#"{"error":{"message":"too long","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
    let e = decode_error(400, body);
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert_eq!(e.param.as_deref(), Some("messages"));
    let body =
        br#"{"error":{"message":"quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
    assert_eq!(decode_error(429, body).kind, ErrorKind::RateLimit);
    // A FastAPI-style 422 with a type we do not know: the status decides.
    let body = br#"{"object":"error","message":"bad field","type":"BadRequestError"}"#;
    let e = decode_error(422, body);
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::InvalidRequest, "bad field")
    );
}

#[test]
fn bodies_that_are_not_json_still_give_a_message() {
    let e = decode_error(502, b"<html>Bad Gateway</html>");
    assert_eq!(e.kind, ErrorKind::Server);
    assert_eq!(
        e.message,
        "the upstream answered HTTP 502: <html>Bad Gateway</html>"
    );
    let e = decode_error(504, b"");
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert_eq!(e.message, "the upstream answered HTTP 504");
}

#[test]
fn error_objects_use_the_gateways_type_names() {
    let error = ErrorInfo {
        kind: ErrorKind::RateLimit,
        message: "m".into(),
        param: None,
        code: Some("c".into()),
    };
    assert_eq!(
        error_object(&error),
        json!({"message": "m", "type": "rate_limit_error", "param": null, "code": "c"})
    );
}
