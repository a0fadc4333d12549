use super::*;
use std::cell::RefCell;

/// SQL that records statements and answers each `SELECT`/`RETURNING` with the rows given.
struct Recorded {
    statements: RefCell<Vec<(String, Vec<SqlValue>)>>,
    rows: Vec<Value>,
}

impl Sql for Recorded {
    fn exec(&self, query: &str, params: &[SqlValue]) -> Result<Vec<Value>, String> {
        self.statements
            .borrow_mut()
            .push((query.to_string(), params.to_vec()));
        Ok(if query.contains("SELECT") || query.contains("RETURNING") {
            self.rows.clone()
        } else {
            Vec::new()
        })
    }
}

fn no_sql() -> Recorded {
    Recorded {
        statements: RefCell::new(Vec::new()),
        rows: Vec::new(),
    }
}

#[test]
fn a_deployments_change_must_name_the_version_it_edits() {
    let id = open();
    let sql = no_sql();
    let first = handle(id, "/deployments", "GET", "", None, 0.0, &sql);
    assert_eq!(first.status, 200);
    assert_eq!(first.store, None, "reading saves nothing");
    let change = r#"{"base_version":0,"overlay":{}}"#;
    let saved = handle(id, "/deployments", "PUT", change, None, 0.0, &sql);
    assert_eq!(saved.status, 200);
    let stored = saved.store.clone().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&stored).unwrap()["version"],
        1
    );
    // The same change again, from version 0, now that 1 is saved: refused with the newer.
    let stale = handle(id, "/deployments", "PUT", change, Some(stored), 0.0, &sql);
    assert_eq!(stale.status, 409);
    assert_eq!(
        serde_json::from_str::<Value>(&stale.body).unwrap()["version"],
        1
    );
    assert_eq!(stale.store, None);
}

#[test]
fn an_earlier_versions_saved_object_is_read_as_it_was_written() {
    // What the worker crate wrote (a JS object, given back as JSON by the class): a version
    // and a whole model list, no overlay.
    let old = r#"{"version":4,"model_list":[{"model_name":"x"}]}"#;
    let a = handle(
        open(),
        "/deployments",
        "GET",
        "",
        Some(old.into()),
        0.0,
        &no_sql(),
    );
    assert_eq!(a.status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&a.body).unwrap()["version"],
        4
    );
}

#[test]
fn bad_bodies_are_400_and_a_broken_saved_value_is_500() {
    let sql = no_sql();
    assert_eq!(
        handle(open(), "/keys", "POST", "{", None, 0.0, &sql).status,
        400
    );
    assert_eq!(
        handle(open(), "/exchange", "POST", "{\"x\":", None, 0.0, &sql).status,
        400
    );
    assert_eq!(
        handle(open(), "/responses", "POST", "1", None, 0.0, &sql).status,
        400
    );
    assert_eq!(
        handle(
            open(),
            "/deployments",
            "GET",
            "",
            Some("{".into()),
            0.0,
            &sql
        )
        .status,
        500
    );
}

#[test]
fn stored_responses_go_through_sql_and_tables_are_made_once() {
    let record = r#"{"record":"{\"id\":\"resp_1\"}"}"#;
    let sql = Recorded {
        statements: RefCell::new(Vec::new()),
        rows: vec![serde_json::from_str(record).unwrap()],
    };
    let id = open();
    let get = r#"{"op":"get","id":"resp_1"}"#;
    let first = handle(id, "/responses", "POST", get, None, 5.0, &sql);
    let made = sql.statements.borrow().len();
    let _ = handle(id, "/responses", "POST", get, None, 5.0, &sql);
    let statements = sql.statements.borrow();
    assert!(statements[0].0.starts_with("CREATE TABLE"));
    assert_eq!(statements.len() - made, 1, "no CREATE the second time");
    let (query, params) = statements.last().unwrap();
    assert!(query.starts_with("SELECT record FROM responses"));
    assert_eq!(
        params,
        &vec![SqlValue::Text("resp_1".into()), SqlValue::Real(5.0)]
    );
    assert_eq!(first.status, 200, "{}", first.body);
}
