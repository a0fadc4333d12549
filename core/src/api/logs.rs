//! The request log's routes, master key only: `GET /request/log` (filtered by `group`,
//! `deployment`, `status`, `key`; `limit`), `GET /request/log/{id}` (one record with its
//! attempt trace) and `GET /stats/history` (`window` `1h` or `24h`, per `group` or
//! `deployment`).

use super::routes::query_param;
use super::Services;
use crate::error::Error;
use crate::http::HttpResponse;
use crate::request_log::{HistoryQuery, LogFilter, LogOp, LogReply};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogRoute {
    List,
    Get(String),
    History,
}

pub(super) async fn handle(
    services: &Services,
    route: LogRoute,
    query: &str,
) -> Result<HttpResponse, Error> {
    let q = |name: &str| query_param(query, name).filter(|v| !v.is_empty());
    let op = match route {
        LogRoute::List => {
            let limit = match q("limit") {
                Some(l) => Some(
                    l.parse::<usize>()
                        .map_err(|_| Error::invalid_value("limit", "must be a whole number"))?,
                ),
                None => None,
            };
            LogOp::List {
                filter: LogFilter {
                    group: q("group"),
                    deployment: q("deployment"),
                    status: q("status"),
                    key: q("key"),
                    limit,
                },
            }
        }
        LogRoute::Get(id) => LogOp::Get { id },
        LogRoute::History => {
            let (minutes, step_minutes) = match q("window").as_deref() {
                None | Some("1h") => (60, 1),
                Some("24h") => (1_440, 15),
                Some(_) => return Err(Error::invalid_value("window", "must be 1h or 24h")),
            };
            LogOp::History {
                query: HistoryQuery {
                    minutes,
                    step_minutes,
                    group: q("group"),
                    deployment: q("deployment"),
                },
            }
        }
    };
    let body = match services.log.store().apply(op).await? {
        LogReply::Records { records, matched } => json!({"records": records, "matched": matched}),
        LogReply::Record { record: Some(r) } => json!(r),
        LogReply::Record { record: None } => {
            return Err(Error::NotFound {
                message: "No request with this id in the log (it keeps the last 1000).".into(),
            })
        }
        LogReply::History { history } => json!(history),
        LogReply::Done => json!({}),
    };
    Ok(HttpResponse::json(200, body.to_string().into_bytes()))
}
