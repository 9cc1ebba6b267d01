//! The tool-calling cases of the conformance suite: one call with streamed arguments, a
//! tool-result round trip (Gemini 3 insists on its thought signature coming back), and two
//! parallel calls answered together.

use crate::dialect::{Ask, Client, Finish, Turn};
use crate::{Kind, ask, weather};
use serde_json::{Value, json};
use switchyard_store::Backend;
use switchyard_testkit::TestApp;

pub async fn tool_call(client: Client, kind: Kind) {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let tools = Ask {
        tools: vec!["get_weather".into()],
        ..Ask::default()
    };
    for stream in [false, true] {
        let ask_it = Ask {
            stream,
            ..tools.clone()
        };
        let (outcome, _) = ask(&app, client, kind.model(), &weather(), &ask_it).await;
        assert_eq!(
            outcome.finish,
            Finish::ToolCalls,
            "stream {stream}: {outcome:?}"
        );
        assert_eq!(outcome.calls.len(), 1, "{outcome:?}");
        let (id, name, arguments) = &outcome.calls[0];
        assert!(!id.is_empty());
        assert_eq!(name, "get_weather");
        assert_eq!(
            arguments,
            &json!({"city": "Oslo"}),
            "streamed arguments add up"
        );
    }
    let sent = app.mock.last_request().unwrap();
    let declared = match kind {
        Kind::OpenAi => sent.body["tools"][0]["function"]["name"].clone(),
        Kind::Anthropic => sent.body["tools"][0]["name"].clone(),
        Kind::Gemini => sent.body["tools"][0]["functionDeclarations"][0]["name"].clone(),
    };
    assert_eq!(declared, "get_weather", "{}", sent.body);
    if kind == Kind::Gemini {
        let parameters = &sent.body["tools"][0]["functionDeclarations"][0]["parameters"];
        assert!(
            parameters.get("additionalProperties").is_none(),
            "schema sanitised: {parameters}"
        );
    }
}

pub async fn tool_round_trip(client: Client, kind: Kind) {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let tools = Ask {
        tools: vec!["get_weather".into()],
        ..Ask::default()
    };
    let model = kind.strict_model();
    let (first, _) = ask(&app, client, model, &weather(), &tools).await;
    let id = first.calls[0].0.clone();
    let mut turns = weather();
    turns.push(Turn::Calls(first.calls.clone()));
    turns.push(Turn::Results(vec![(id, "3 degrees and clear".into())]));
    for stream in [false, true] {
        let (outcome, _) = ask(
            &app,
            client,
            model,
            &turns,
            &Ask {
                stream,
                ..tools.clone()
            },
        )
        .await;
        assert_eq!(outcome.finish, Finish::Stop, "{outcome:?}");
        assert!(!outcome.text.is_empty());
    }
    let sent = app.mock.last_request().unwrap().body;
    match kind {
        Kind::OpenAi => {
            let messages = sent["messages"].as_array().unwrap();
            let call_id = &messages[1]["tool_calls"][0]["id"];
            assert_eq!(messages[2]["role"], "tool");
            assert_eq!(&messages[2]["tool_call_id"], call_id, "{sent}");
        }
        Kind::Anthropic => {
            let messages = sent["messages"].as_array().unwrap();
            let call_id = &messages[1]["content"][0]["id"];
            assert_eq!(messages[2]["content"][0]["type"], "tool_result");
            assert_eq!(&messages[2]["content"][0]["tool_use_id"], call_id, "{sent}");
        }
        Kind::Gemini => {
            let contents = sent["contents"].as_array().unwrap();
            let call = &contents[1]["parts"][0];
            assert_eq!(call["functionCall"]["name"], "get_weather");
            assert!(
                call["thoughtSignature"].is_string(),
                "the signature came back: {sent}"
            );
            let result = &contents[2]["parts"][0]["functionResponse"];
            assert_eq!(result["name"], "get_weather", "{sent}");
            assert!(result["response"].is_object());
        }
    }
}

pub async fn parallel_tools(client: Client, kind: Kind) {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let tools = Ask {
        tools: vec!["get_weather".into(), "get_time".into()],
        ..Ask::default()
    };
    let question = vec![Turn::User(
        "what is the weather and the time in Oslo".into(),
    )];
    let model = kind.strict_model();
    let mut first = None;
    for stream in [false, true] {
        let (outcome, _) = ask(
            &app,
            client,
            model,
            &question,
            &Ask {
                stream,
                ..tools.clone()
            },
        )
        .await;
        assert_eq!(
            outcome.finish,
            Finish::ToolCalls,
            "stream {stream}: {outcome:?}"
        );
        let names: Vec<&str> = outcome
            .calls
            .iter()
            .map(|(_, name, _)| name.as_str())
            .collect();
        assert_eq!(
            names,
            ["get_weather", "get_time"],
            "stream {stream}: {outcome:?}"
        );
        assert_ne!(outcome.calls[0].0, outcome.calls[1].0, "distinct ids");
        for (_, _, arguments) in &outcome.calls {
            assert_eq!(arguments, &json!({"city": "Oslo"}));
        }
        first.get_or_insert(outcome);
    }
    let first = first.unwrap();
    let mut turns = question.clone();
    turns.push(Turn::Calls(first.calls.clone()));
    turns.push(Turn::Results(vec![
        (first.calls[0].0.clone(), "3 degrees".into()),
        (first.calls[1].0.clone(), "noon".into()),
    ]));
    let (outcome, _) = ask(&app, client, model, &turns, &tools).await;
    assert_eq!(outcome.finish, Finish::Stop, "{outcome:?}");
    let sent = app.mock.last_request().unwrap().body;
    match kind {
        Kind::OpenAi => {
            let messages = sent["messages"].as_array().unwrap();
            let calls = messages[1]["tool_calls"].as_array().unwrap();
            assert_eq!(calls.len(), 2);
            assert_eq!(messages[2]["tool_call_id"], calls[0]["id"], "{sent}");
            assert_eq!(messages[3]["tool_call_id"], calls[1]["id"], "{sent}");
        }
        Kind::Anthropic => {
            let messages = sent["messages"].as_array().unwrap();
            assert_eq!(messages.len(), 3, "both results in one user turn: {sent}");
            let calls = messages[1]["content"].as_array().unwrap();
            let results = messages[2]["content"].as_array().unwrap();
            assert_eq!(results[0]["tool_use_id"], calls[0]["id"], "{sent}");
            assert_eq!(results[1]["tool_use_id"], calls[1]["id"], "{sent}");
        }
        Kind::Gemini => {
            let contents = sent["contents"].as_array().unwrap();
            let names = |i: usize, key: &str| -> Vec<Value> {
                contents[i]["parts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p[key]["name"].clone())
                    .collect()
            };
            assert_eq!(
                names(1, "functionCall"),
                [json!("get_weather"), json!("get_time")]
            );
            assert_eq!(
                names(2, "functionResponse"),
                [json!("get_weather"), json!("get_time")],
                "{sent}"
            );
        }
    }
}
