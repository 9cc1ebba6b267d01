//! `GET /v1/models` and `GET /v1/models/{id}` in OpenAI's list and object shapes (§3).

use http::StatusCode;
use serde::Serialize;

use super::MockOptions;
use super::body::{self, Response};
use super::error::ApiError;
use super::faults::Fault;

/// The `created` of every listed model.
const CREATED: u64 = 1_686_935_002;

#[derive(Serialize)]
struct Model<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

#[derive(Serialize)]
struct List<'a> {
    object: &'static str,
    data: Vec<Model<'a>>,
}

/// The configured models, then every fault model.
fn ids(options: &MockOptions) -> Vec<&str> {
    let configured = options.models.iter().map(String::as_str);
    let faults = Fault::ALL
        .into_iter()
        .map(|fault| -> &str { fault.model() });
    configured.chain(faults).collect()
}

fn model(id: &str) -> Model<'_> {
    Model {
        id,
        object: "model",
        created: CREATED,
        owned_by: "switchyard-mock",
    }
}

pub(crate) fn list(options: &MockOptions) -> Response {
    let list = List {
        object: "list",
        data: ids(options).into_iter().map(model).collect(),
    };
    body::json(StatusCode::OK, &list)
}

pub(crate) fn get(options: &MockOptions, id: &str) -> Response {
    match ids(options).into_iter().find(|known| *known == id) {
        Some(known) => body::json(StatusCode::OK, &model(known)),
        None => ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("The model '{id}' does not exist or you do not have access to it."),
            kind: "invalid_request_error",
            param: Some("model".to_owned()),
            code: Some("model_not_found"),
        }
        .into_response(),
    }
}
