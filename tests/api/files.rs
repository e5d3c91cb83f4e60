//! `/api/chat/files`: uploads of tricky CSV and JSON files, limits, types decided from the
//! content, query, delete, the file as provider context, and tenant isolation.

use crate::mock::{MockUpstream, Script};
use serde_json::json;

use crate::helpers::{json, spawn_app, spawn_app_with};

#[tokio::test]
async fn upload_info_query_delete() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let csv = "region,units,price\nNorth,10,2.5\nSouth,20,3.5\nNorthwest,30,4.5\n";
    let (status, body) = app
        .upload_file(&c.secret, &sid, "sales.csv", csv.into())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "uploaded");
    assert_eq!(body["sessionId"], sid.as_str());
    let f = &body["file"];
    assert_eq!(f["name"], "sales.csv");
    assert_eq!(f["type"], "csv");
    assert_eq!(f["size"], csv.len());
    assert_eq!(f["rows"], 3);
    assert_eq!(f["columns"], json!(["region", "units", "price"]));
    assert_eq!(f["columnStats"][2]["type"], "number");
    assert_eq!(f["columnStats"][2]["mean"], 3.5);
    assert!(f["summary"].as_str().unwrap().contains("3 rows"));

    let (_, info) = json(app.file_info(&c.secret, &sid).await).await;
    assert_eq!(info["hasFile"], true);
    assert_eq!(info["file"]["name"], "sales.csv");
    assert!(
        chrono::DateTime::parse_from_rfc3339(info["file"]["uploadedAt"].as_str().unwrap()).is_ok()
    );
    let (_, s) = json(app.session(&c.secret, &sid).await).await;
    assert_eq!(s["hasFile"], true);

    let (status, q) = json(
        app.query_file(&c.secret, &sid, json!({"query": "NORTH"}))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(q["count"], 2, "case-insensitive");
    assert_eq!(
        q["results"][0],
        json!({"region": "North", "units": 10, "price": 2.5})
    );
    let (_, q) = json(
        app.query_file(&c.secret, &sid, json!({"query": "north", "limit": 1}))
            .await,
    )
    .await;
    assert_eq!(q["count"], 2, "count is all matches");
    assert_eq!(q["results"].as_array().unwrap().len(), 1);
    let (_, q) = json(
        app.query_file(&c.secret, &sid, json!({"query": "3", "column": "units"}))
            .await,
    )
    .await;
    assert_eq!(q["count"], 1);
    let (status, q) = json(
        app.query_file(&c.secret, &sid, json!({"query": "x", "column": "colour"}))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(q["detail"]["field"], "column");

    let resp = app.delete_file(&c.secret, &sid).await;
    let (status, del) = json(resp).await;
    assert_eq!(status, 200);
    assert_eq!(del, json!({"status": "deleted", "sessionId": sid}));
    let (_, info) = json(app.file_info(&c.secret, &sid).await).await;
    assert_eq!(info, json!({"hasFile": false}));
    assert_eq!(app.delete_file(&c.secret, &sid).await.status(), 404);
    assert_eq!(
        app.query_file(&c.secret, &sid, json!({"query": "x"}))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn tricky_csv_files() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    // BOM + semicolons + a quoted field with a newline.
    let (status, body) = app
        .upload_file(
            &c.secret,
            &sid,
            "eu.csv",
            "\u{feff}name;note;amount\n\"Ann\";\"line one\nline two\";3\nBob;plain;4\n".into(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["file"]["columns"], json!(["name", "note", "amount"]));
    assert_eq!(body["file"]["rows"], 2);
    let (_, q) = json(
        app.query_file(&c.secret, &sid, json!({"query": "line two"}))
            .await,
    )
    .await;
    assert_eq!(q["results"][0]["note"], "line one\nline two");
    // Tabs, and ragged rows reported.
    let (status, body) = app
        .upload_file(
            &c.secret,
            &sid,
            "t.tsv",
            "a\tb\tc\n1\t2\t3\n4\t5\n6\t7\t8\t9\n".into(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["file"]["columns"], json!(["a", "b", "c"]));
    assert!(
        body["file"]["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("ragged") || w.as_str().unwrap().contains("row")),
        "{body}"
    );
    // Empty file: a clear 400.
    let (status, body) = app
        .upload_file(&c.secret, &sid, "empty.csv", Vec::new())
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"]["problem"].is_string());
    // Not UTF-8: a 400 naming the line.
    let mut latin1 = b"name,city\nAnn,Paris\n".to_vec();
    latin1.extend(b"Jos\xe9,M\xe1laga\n");
    let (status, body) = app.upload_file(&c.secret, &sid, "latin1.csv", latin1).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["detail"]["line"], 3);
    // The new upload replaced the first file.
    let (_, info) = json(app.file_info(&c.secret, &sid).await).await;
    assert_eq!(info["file"]["name"], "t.tsv");
}

#[tokio::test]
async fn json_files_flatten_and_malformed_json_names_the_line() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let doc = json!({"data": [{"id": 1, "address": {"city": "Oslo", "geo": {"lat": 59.9}}, "tags": ["a", "b"]}, {"id": 2, "address": {"city": "Rome"}}]});
    let (status, body) = app
        .upload_file(&c.secret, &sid, "people.json", doc.to_string().into())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["file"]["type"], "json");
    assert_eq!(body["file"]["rows"], 2);
    let cols: Vec<String> = serde_json::from_value(body["file"]["columns"].clone()).unwrap();
    assert!(
        cols.contains(&"address.city".to_string()) && cols.contains(&"address.geo.lat".to_string()),
        "{cols:?}"
    );
    // Deep nesting past the limit: a clear 400.
    let deep = format!("[{}1{}]", "{\"a\":".repeat(40), "}".repeat(40));
    let (status, body) = app
        .upload_file(&c.secret, &sid, "deep.json", deep.into())
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = app
        .upload_file(
            &c.secret,
            &sid,
            "bad.json",
            "[\n{\"a\": 1},\n{\"a\": }\n]".into(),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["detail"]["line"], 3);
}

#[tokio::test]
async fn types_come_from_the_content_and_sizes_are_limited() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    // A PNG renamed .csv: 415.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend(std::iter::repeat_n(0u8, 200));
    let (status, body) = app.upload_file(&c.secret, &sid, "photo.csv", png).await;
    assert_eq!(status, 415, "{body}");
    // JSON content with a .txt name is still JSON.
    let (status, body) = app
        .upload_file(
            &c.secret,
            &sid,
            "export.txt",
            br#"[{"a":1},{"a":2}]"#.to_vec(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["file"]["type"], "json");
    // 12 MiB: 413, answered from Content-Length before the body is read.
    let big = "a,b\n".repeat(12 * 1024 * 1024 / 4);
    let (status, body) = app
        .upload_file(&c.secret, &sid, "big.csv", big.into())
        .await;
    assert_eq!(status, 413, "{body}");
    // Just over 10 MiB of file within the multipart allowance: still 413.
    let over = "a,b\n".repeat(10 * 1024 * 1024 / 4 + 1024);
    let (status, _) = app
        .upload_file(&c.secret, &sid, "over.csv", over.into())
        .await;
    assert_eq!(status, 413);
    // The earlier file is still the active one.
    let (_, info) = json(app.file_info(&c.secret, &sid).await).await;
    assert_eq!(info["file"]["name"], "export.txt");
}

#[tokio::test]
async fn the_file_is_context_after_upload_and_not_after_delete() {
    let (base, mock) = MockUpstream::openai(Script::reply(&["ok"])).await;
    let app = spawn_app_with(|env| {
        env.insert("AI_PROVIDER".into(), "openai".into());
        env.insert("OPENAI_BASE_URL".into(), base);
        env.insert("OPENAI_API_KEY".into(), "sk-test".into());
    })
    .await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let (status, _) = app
        .upload_file(
            &c.secret,
            &sid,
            "inventory.csv",
            "sku,colour,stock\nA-17,turquoise,42\nB-9,crimson,7\n".into(),
        )
        .await;
    assert_eq!(status, 200);
    let send = || app.send_message(&c.secret, &sid, "What is in stock?");
    assert_eq!(send().await.status(), 200);
    let system = |i: usize| {
        mock.requests()[i].body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let with_file = system(0);
    assert!(
        with_file.contains("inventory.csv")
            && with_file.contains("turquoise")
            && with_file.contains("A-17"),
        "{with_file}"
    );
    app.delete_file(&c.secret, &sid).await;
    assert_eq!(send().await.status(), 200);
    let without = system(1);
    assert!(
        !without.contains("turquoise") && !without.contains("inventory.csv"),
        "{without}"
    );
}

#[tokio::test]
async fn the_offline_assistant_answers_about_the_file() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    app.upload_file(
        &c.secret,
        &sid,
        "sales.csv",
        "region,units,price\nNorth,10,2.5\nSouth,20,3.5\nEast,30,4.5\n".into(),
    )
    .await;
    let ask = |q: &'static str| app.send_message(&c.secret, &sid, &q);
    let (_, a) = json(ask("How many rows are there?").await).await;
    assert!(a["response"].as_str().unwrap().contains('3'), "{a}");
    let (_, a) = json(ask("Which columns does it have?").await).await;
    let text = a["response"].as_str().unwrap();
    assert!(
        text.contains("region") && text.contains("units") && text.contains("price"),
        "{text}"
    );
    let (_, a) = json(ask("What is the average price?").await).await;
    assert!(a["response"].as_str().unwrap().contains("3.5"), "{a}");
}

#[tokio::test]
async fn the_offline_assistant_looks_a_row_up_in_the_file() {
    let app = spawn_app().await;
    let c = app.new_client().await;
    let sid = app.new_session(&c.secret, json!({})).await;
    let (status, body) = app
        .upload_file(
            &c.secret,
            &sid,
            "products.csv",
            "name,price,stock\nRed Widget,12.50,0\nBlue Widget,9.99,12\nBlue Gadget,4.00,7\n"
                .into(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ask = |q: &'static str| app.send_message(&c.secret, &sid, &q);
    let (status, a) = json(ask("What is the price of the Blue Widget?").await).await;
    assert_eq!(status, 200, "{a}");
    let text = a["response"].as_str().unwrap();
    assert!(text.contains("Blue Widget: price 9.99."), "{text}");
    assert!(!text.contains("12.50") && !text.contains("4.00"), "{text}");
    // A column named by its plural, and a name in the plural too.
    let (_, a) = json(ask("How many red widgets are in stock?").await).await;
    assert!(
        a["response"]
            .as_str()
            .unwrap()
            .contains("Red Widget: stock 0."),
        "{a}"
    );
    // What no row holds still gets the column's facts.
    let (_, a) = json(ask("What is the price of the purple elephant?").await).await;
    let text = a["response"].as_str().unwrap();
    assert!(!text.contains("matching row"), "{text}");
    assert!(text.contains("price"), "{text}");
}

#[tokio::test]
async fn another_clients_session_answers_404_on_every_file_endpoint() {
    let app = spawn_app().await;
    let a = app.new_client().await;
    let b = app.new_client().await;
    let sid = app.new_session(&a.secret, json!({})).await;
    app.upload_file(&a.secret, &sid, "s.csv", "x,y\n1,2\n".into())
        .await;
    let (status, _) = app
        .upload_file(&b.secret, &sid, "evil.csv", "x,y\n3,4\n".into())
        .await;
    assert_eq!(status, 404);
    assert_eq!(app.file_info(&b.secret, &sid).await.status(), 404);
    assert_eq!(
        app.query_file(&b.secret, &sid, json!({"query": ""}))
            .await
            .status(),
        404
    );
    assert_eq!(app.delete_file(&b.secret, &sid).await.status(), 404);
    let (_, info) = json(app.file_info(&a.secret, &sid).await).await;
    assert_eq!(info["file"]["name"], "s.csv");
    // The widget's publishable key may upload from an allowed origin.
    let (status, _) = app
        .upload_file(&a.publishable, &sid, "w.csv", "x,y\n1,2\n".into())
        .await;
    assert_eq!(status, 200);
}
