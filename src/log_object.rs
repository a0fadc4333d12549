//! The `log` Durable Object's logic: the request log and its history held in memory (a
//! [`LogBook`]) for the answers, and in two SQLite tables so they outlive the instance. An
//! append writes its records as one row (a batch is an isolate's second of requests: one
//! statement, not one per record) and the minute buckets they changed, then drops what the
//! book no longer keeps (batches wholly past the last 1,000 records, buckets older than a day).

use crate::state_object::{Answer, Sql, SqlValue};
use serde_json::Value;
use switchyard_core::request_log::{
    Bucket, BucketKey, LogBook, LogOp, RequestRecord, LOG_CAPACITY,
};

pub fn handle(
    book: &mut Option<LogBook>,
    body: &str,
    now_ms: f64,
    sql: &dyn Sql,
) -> Result<Answer, String> {
    let op: LogOp = match serde_json::from_str(body) {
        Ok(op) => op,
        Err(e) => return Ok(Answer::error(400, format!("bad log operation: {e}"))),
    };
    if book.is_none() {
        *book = Some(load(sql)?);
    }
    let Some(book) = book.as_mut() else {
        return Err("the log did not load".into());
    };
    let reply = match op {
        LogOp::Append { records } => {
            let batch = (
                records.len(),
                serde_json::to_string(&records).map_err(|e| e.to_string())?,
            );
            let (touched, oldest) = book.append(records, now_ms);
            save(book, sql, batch, &touched, oldest)?;
            switchyard_core::request_log::LogReply::Done
        }
        other => book.apply(other, now_ms),
    };
    Ok(Answer::json(&reply))
}

fn tables(sql: &dyn Sql) -> Result<(), String> {
    sql.exec(
        "CREATE TABLE IF NOT EXISTS log_batches (seq INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER NOT NULL, records TEXT NOT NULL)",
        &[],
    )?;
    sql.exec(
        "CREATE TABLE IF NOT EXISTS log_buckets (minute REAL NOT NULL, grp TEXT NOT NULL, deployment TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (minute, grp, deployment))",
        &[],
    )?;
    Ok(())
}

fn load(sql: &dyn Sql) -> Result<LogBook, String> {
    tables(sql)?;
    let rows = sql.exec("SELECT records FROM log_batches ORDER BY seq", &[])?;
    let records: Vec<RequestRecord> = rows
        .iter()
        .filter_map(|r| r.get("records").and_then(Value::as_str))
        .filter_map(|t| serde_json::from_str::<Vec<RequestRecord>>(t).ok())
        .flatten()
        .collect();
    let rows = sql.exec("SELECT minute, grp, deployment, data FROM log_buckets", &[])?;
    let buckets = rows
        .iter()
        .filter_map(|r| {
            let key: BucketKey = (
                r.get("minute")?.as_f64()? as u64,
                r.get("grp")?.as_str()?.to_string(),
                r.get("deployment")?.as_str()?.to_string(),
            );
            let bucket: Bucket = serde_json::from_str(r.get("data")?.as_str()?).ok()?;
            Some((key, bucket))
        })
        .collect();
    Ok(LogBook::restore(records, buckets))
}

fn save(
    book: &LogBook,
    sql: &dyn Sql,
    (count, records): (usize, String),
    touched: &[BucketKey],
    oldest: u64,
) -> Result<(), String> {
    sql.exec(
        "INSERT INTO log_batches (n, records) VALUES (?, ?)",
        &[SqlValue::Real(count as f64), SqlValue::Text(records)],
    )?;
    // The batches older than the newest that brings the count to the capacity.
    sql.exec(
        "DELETE FROM log_batches WHERE seq < (SELECT seq FROM (SELECT seq, SUM(n) OVER (ORDER BY seq DESC) AS kept FROM log_batches) WHERE kept >= ? ORDER BY seq DESC LIMIT 1)",
        &[SqlValue::Real(LOG_CAPACITY as f64)],
    )?;
    for key in touched {
        let Some(bucket) = book.bucket(key) else {
            continue;
        };
        let data = serde_json::to_string(bucket).map_err(|e| e.to_string())?;
        sql.exec(
            "INSERT OR REPLACE INTO log_buckets (minute, grp, deployment, data) VALUES (?, ?, ?, ?)",
            &[
                SqlValue::Real(key.0 as f64),
                SqlValue::Text(key.1.clone()),
                SqlValue::Text(key.2.clone()),
                SqlValue::Text(data),
            ],
        )?;
    }
    sql.exec(
        "DELETE FROM log_buckets WHERE minute < ?",
        &[SqlValue::Real(oldest as f64)],
    )?;
    Ok(())
}
