//! A GitHub webhook receiver for rust-less: `POST /webhook/github`.
//!
//! - The delivery must carry `X-Hub-Signature-256`, the HMAC-SHA256 of the body's exact bytes
//!   ([`rustless::Request::raw_body`]) keyed with the secret `GITHUB_WEBHOOK_SECRET`; a
//!   missing or wrong one answers `401`. The signature is checked before anything else is
//!   believed, and compared in constant time.
//! - A delivery ID (`X-GitHub-Delivery`) seen before answers `409`: a replay, whether of a
//!   captured request or of a redelivery already handled. The IDs are kept in the data
//!   directory.
//! - The payload is JSON, either the body itself (content type `application/json`) or the
//!   `payload` field of a form (`application/x-www-form-urlencoded`), as GitHub's "Content
//!   type" setting chooses.
//! - Each delivery is logged (`rustless logs webhook`) and answered `200` with what arrived.
//!
//! Put your own work where `handle` is: this one only logs and answers.

mod deliveries;
mod signature;

use std::sync::Mutex;

use rustless::{Function, Request, Response};
use serde_json::{json, Value};

use crate::deliveries::Deliveries;

/// The secret set with `rustless secret set webhook GITHUB_WEBHOOK_SECRET`.
pub const SECRET: &str = "GITHUB_WEBHOOK_SECRET";

/// The IDs seen, read from the data directory on the first delivery; the lock also makes
/// "seen before?" and "record it" one step when deliveries arrive at once.
static DELIVERIES: Mutex<Option<Deliveries>> = Mutex::new(None);

/// `POST /webhook/github`
#[derive(Default)]
pub struct GitHub;

impl Function for GitHub {
    fn call(&self, req: &Request) -> Response {
        let secret = match rustless::secret(SECRET) {
            Ok(secret) => secret,
            Err(e) => return e.into(),
        };
        let signed = req
            .header(signature::HEADER)
            .map_or(false, |header| signature::verify(secret.as_bytes(), req.raw_body(), header));
        if !signed {
            let why = if req.header(signature::HEADER).is_some() { "does not match the body" } else { "is missing" };
            eprintln!("refused a delivery from {}: X-Hub-Signature-256 {}", client(req), why);
            return Response::error(401, "BAD_SIGNATURE", format!("X-Hub-Signature-256 {}", why));
        }
        let id = match req.header("x-github-delivery") {
            Some(id) if !id.is_empty() && id.len() <= 100 && !id.contains(char::is_whitespace) => id,
            _ => return Response::error(400, "NO_DELIVERY_ID", "X-GitHub-Delivery must be one delivery ID"),
        };
        let payload = match payload(req) {
            Ok(payload) => payload,
            Err(res) => return res,
        };
        match first_delivery(id) {
            Ok(true) => {}
            Ok(false) => {
                eprintln!("refused delivery {} from {}: already received (a replay)", id, client(req));
                return Response::error(409, "REPLAYED_DELIVERY", format!("delivery {} was already received", id));
            }
            Err(res) => return res,
        }
        handle(req, id, &payload)
    }
}

/// What to do with a genuine, first-time delivery: here, log it and say what arrived.
fn handle(req: &Request, id: &str, payload: &Value) -> Response {
    let event = req.header("x-github-event").unwrap_or("unknown");
    let action = payload["action"].as_str();
    let repository = payload["repository"]["full_name"].as_str();
    eprintln!(
        "delivery {}: {}{} on {} from {}",
        id,
        event,
        action.map(|a| format!(" ({})", a)).unwrap_or_default(),
        repository.unwrap_or("-"),
        client(req)
    );
    Response::ok(json!({
        "delivery": id,
        "event": event,
        "action": action,
        "repository": repository,
        "from": client(req),
    }))
}

/// The delivery's JSON: the body, or a form's `payload` field.
fn payload(req: &Request) -> Result<Value, Response> {
    if let Some(body) = req.body() {
        return Ok(body.clone());
    }
    match req.form_value("payload") {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| Response::error(400, "INVALID_PAYLOAD", format!("the form's payload is not JSON: {}", e))),
        None => Err(Response::error(
            400,
            "NO_PAYLOAD",
            "a delivery is a JSON body or a form with a payload field",
        )),
    }
}

/// Records `id`; `Ok(false)` for an ID seen before.
fn first_delivery(id: &str) -> Result<bool, Response> {
    let mut guard = DELIVERIES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if guard.is_none() {
        let dir = rustless::data_dir().map_err(Response::from)?;
        let opened = Deliveries::open(&dir).map_err(|e| storage_error(&e))?;
        *guard = Some(opened);
    }
    // Set just above when it was empty.
    let deliveries = guard.as_mut().expect("opened above");
    deliveries.record(id).map_err(|e| storage_error(&e))
}

fn storage_error(e: &std::io::Error) -> Response {
    Response::error(500, "STORAGE_FAILED", format!("cannot keep the delivery IDs: {}", e))
}

/// The client's address as the gateway saw it (behind Caddy: the address Caddy saw).
fn client(req: &Request) -> &str {
    req.header("x-forwarded-for").unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(id: &str, content_type: &str, body: &str, signature: Option<String>) -> Request {
        let mut builder = Request::builder()
            .method("POST")
            .path("/webhook/github")
            .header("x-github-event", "push")
            .header("x-github-delivery", id)
            .header("content-type", content_type)
            .header("x-forwarded-for", "192.0.2.7")
            .raw_body(body);
        if let Some(signature) = signature {
            builder = builder.header("x-hub-signature-256", signature);
        }
        // As the runner does: a JSON body is also parsed.
        if content_type == "application/json" {
            builder = builder.body(serde_json::from_str(body).ok());
        }
        builder.build()
    }

    fn signed(secret: &str, body: &str) -> Option<String> {
        Some(format!("sha256={}", hex::encode(signature::sign(secret.as_bytes(), body.as_bytes()))))
    }

    fn code(res: &Response) -> String {
        res.body().unwrap()["error"]["code"].as_str().unwrap().to_string()
    }

    // One test: the secret and the data directory are process-wide.
    #[test]
    fn signed_deliveries_pass_once_forged_ones_never() {
        let root = std::env::temp_dir().join(format!("webhook-lib-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("secrets")).unwrap();
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::env::set_var("RUSTLESS_SECRETS_DIR", root.join("secrets"));
        std::env::set_var("RUSTLESS_DATA_DIR", root.join("data"));

        let body = r#"{"ref":"refs/heads/main","repository":{"full_name":"octo/pi"}}"#;
        let res = GitHub.call(&delivery("a1", "application/json", body, signed("s3cret", body)));
        assert_eq!((res.status_code(), code(&res)), (500, "SECRET_NOT_SET".to_string()));
        std::fs::write(root.join("secrets").join(SECRET), "s3cret").unwrap();

        let res = GitHub.call(&delivery("a1", "application/json", body, signed("s3cret", body)));
        assert_eq!(res.status_code(), 200, "{:?}", res.body());
        assert_eq!(res.body().unwrap()["repository"], json!("octo/pi"));
        assert_eq!(res.body().unwrap()["from"], json!("192.0.2.7"));
        let res = GitHub.call(&delivery("a1", "application/json", body, signed("s3cret", body)));
        assert_eq!((res.status_code(), code(&res)), (409, "REPLAYED_DELIVERY".to_string()));

        let tampered = body.replace("main", "evil");
        let res = GitHub.call(&delivery("a2", "application/json", &tampered, signed("s3cret", body)));
        assert_eq!((res.status_code(), code(&res)), (401, "BAD_SIGNATURE".to_string()));
        let res = GitHub.call(&delivery("a2", "application/json", body, signed("guess", body)));
        assert_eq!(res.status_code(), 401);
        let res = GitHub.call(&delivery("a2", "application/json", body, None));
        assert_eq!(res.status_code(), 401);
        let form = format!("payload={}", body.replace('{', "%7B").replace('}', "%7D").replace('"', "%22").replace(':', "%3A").replace('/', "%2F").replace(',', "%2C"));
        let res = GitHub.call(&delivery("a2", "application/x-www-form-urlencoded", &form, signed("s3cret", &form)));
        assert_eq!(res.status_code(), 200, "{:?}", res.body());
        assert_eq!(res.body().unwrap()["repository"], json!("octo/pi"));
        let res = GitHub.call(&delivery("a3", "application/x-www-form-urlencoded", "x=1", signed("s3cret", "x=1")));
        assert_eq!((res.status_code(), code(&res)), (400, "NO_PAYLOAD".to_string()));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
