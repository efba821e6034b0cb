//! One file per route; [`Route::parse`] names the route and [`super::dispatch`] matches on it.

pub mod metrics;
pub mod publish;
pub mod req;
pub mod status;

use crate::nostr::limits::{MAX_EVENT_JSON, MAX_LIST_EVENT_JSON};

/// The routes of port P+1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /publish`: upstream's event submission.
    Publish,
    /// `POST /req`: upstream's query, answered in MessagePack.
    Req,
    /// `GET /status`: the node's state as JSON.
    Status,
    /// `GET /metrics`: the numbers of `/status` for Prometheus.
    Metrics,
    /// Anything else: 404.
    Unknown,
}

impl Route {
    /// The route of a request path (the query string already cut off).
    #[must_use]
    pub fn parse(path: &str) -> Self {
        match path {
            "/publish" => Self::Publish,
            "/req" => Self::Req,
            "/status" => Self::Status,
            "/metrics" => Self::Metrics,
            _ => Self::Unknown,
        }
    }

    /// The methods the route serves (`OPTIONS` is served everywhere, as a CORS preflight).
    #[must_use]
    pub fn methods(self) -> &'static str {
        match self {
            Self::Publish | Self::Req => "POST, OPTIONS",
            Self::Status | Self::Metrics => "GET, HEAD, OPTIONS",
            Self::Unknown => "OPTIONS",
        }
    }

    /// Largest request body the route reads. `/publish` reads up to the list-event bound
    /// (DECISIONS.md 8: follow lists and other 10 000–19 999 lists up to 256 KiB), and the
    /// event parser then applies the bound of the event's kind; a `/req` filter is far below
    /// 64 KiB; the other routes take no body.
    #[must_use]
    pub fn body_limit(self) -> usize {
        match self {
            Self::Publish => MAX_LIST_EVENT_JSON,
            Self::Req => MAX_EVENT_JSON,
            Self::Status | Self::Metrics | Self::Unknown => 0,
        }
    }
}
