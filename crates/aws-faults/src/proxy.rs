//! The proxy itself: an axum server on a local port that forwards every request to the
//! upstream (`moto_server`) unless its [`Rule`] says otherwise, records each call in
//! [`Calls`], and serves `GET /_faults/calls` (the record as JSON) and
//! `PUT /_faults/rules` (new rules as JSON) for scripts.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Response, StatusCode, Uri, header};
use axum::routing::{get, put};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::calls::{Call, Calls, Fate, resource_of};
use crate::rules::{Dice, Rule, decide};

/// Largest request body read (AWS query requests are a few KiB).
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Starting or running the proxy failed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The listen address could not be bound.
    #[error("failed to listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The upstream is not an `http://host:port` URL.
    #[error("failed to read the upstream URL {0:?}")]
    Upstream(String),
}

struct Shared {
    upstream: Uri,
    client: Client<HttpConnector, Full<Bytes>>,
    rules: Mutex<Vec<Rule>>,
    dice: Mutex<Dice>,
    calls: Calls,
    started: Instant,
}

/// A running proxy; stopped when dropped.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Proxy {
    /// Starts a proxy on `listen` (port 0: any free port) in front of `upstream`
    /// (`http://127.0.0.1:5000`), applying `rules` with dice seeded by `seed`.
    ///
    /// # Errors
    /// When `listen` cannot be bound or `upstream` is not a URL.
    pub async fn start(
        listen: SocketAddr,
        upstream: &str,
        rules: Vec<Rule>,
        seed: u64,
    ) -> Result<Self, ProxyError> {
        let upstream: Uri = upstream
            .trim_end_matches('/')
            .parse()
            .map_err(|_| ProxyError::Upstream(upstream.to_owned()))?;
        if upstream.authority().is_none() {
            return Err(ProxyError::Upstream(upstream.to_string()));
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| ProxyError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ProxyError::Bind {
            addr: listen,
            source,
        })?;
        let shared = Arc::new(Shared {
            upstream,
            client: Client::builder(TokioExecutor::new()).build_http(),
            rules: Mutex::new(rules),
            dice: Mutex::new(Dice::new(seed)),
            calls: Calls::default(),
            started: Instant::now(),
        });
        let app = Router::new()
            .route("/_faults/calls", get(calls))
            .route("/_faults/rules", put(set_rules))
            .fallback(forward)
            .with_state(Arc::clone(&shared));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(error) = server.await {
                eprintln!("aws-faults: the server stopped: {error}");
            }
        });
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
        })
    }

    /// `http://<addr>`, for an SDK endpoint override.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub const fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The record of calls.
    pub fn calls(&self) -> &Calls {
        &self.shared.calls
    }

    /// Replaces the rules (e.g. heals AWS: no rules).
    pub fn set_rules(&self, rules: Vec<Rule>) {
        *self
            .shared
            .rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = rules;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn calls(State(shared): State<Arc<Shared>>) -> Response<Body> {
    json_response(StatusCode::OK, &shared.calls.all())
}

async fn set_rules(State(shared): State<Arc<Shared>>, body: Bytes) -> Response<Body> {
    match serde_json::from_slice::<Vec<Rule>>(&body) {
        Ok(rules) => {
            *shared.rules.lock().unwrap_or_else(PoisonError::into_inner) = rules;
            json_response(StatusCode::OK, &"rules replaced")
        }
        Err(error) => json_response(StatusCode::BAD_REQUEST, &error.to_string()),
    }
}

fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return error_xml(
            StatusCode::BAD_REQUEST,
            "Sender",
            "InvalidRequest",
            "request body too large",
        );
    };
    let form = form_of(&parts.uri, &body);
    let param = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    };
    let action = param("Action");
    let resource = resource_of(form.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let (fate, delay) = {
        let rules = shared
            .rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut dice = shared.dice.lock().unwrap_or_else(PoisonError::into_inner);
        decide(&rules, &mut dice, &action)
    };
    let denied = format!("User is not authorized to perform: {action} (aws-faults)");
    shared.calls.push(Call {
        at: shared.started.elapsed(),
        action,
        resource,
        fate,
    });
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match fate {
        Fate::Throttled => {
            return error_xml(
                StatusCode::BAD_REQUEST,
                "Sender",
                "Throttling",
                "Rate exceeded",
            );
        }
        Fate::Failed => return internal_failure(),
        Fate::Denied => {
            return error_xml(StatusCode::FORBIDDEN, "Sender", "AccessDenied", &denied);
        }
        Fate::Passed | Fate::Lost => {}
    }
    let upstream = upstream_request(&shared.upstream, parts, body);
    let answer = match shared.client.request(upstream).await {
        Ok(answer) => answer,
        Err(error) => {
            return error_xml(
                StatusCode::BAD_GATEWAY,
                "Receiver",
                "BadGateway",
                &format!("aws-faults could not reach the upstream: {error}"),
            );
        }
    };
    let (parts, body) = answer.into_parts();
    let body = body
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    if fate == Fate::Lost {
        // AWS acted; the client never learns.
        return internal_failure();
    }
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = parts.status;
    for (name, value) in &parts.headers {
        if name != header::TRANSFER_ENCODING && name != header::CONTENT_LENGTH {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}

/// The form parameters of a query-protocol request: the body, and the query string.
fn form_of(uri: &Uri, body: &Bytes) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    if let Some(query) = uri.query() {
        form.extend(serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default());
    }
    form
}

fn upstream_request(
    upstream: &Uri,
    parts: axum::http::request::Parts,
    body: Bytes,
) -> hyper::Request<Full<Bytes>> {
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    let uri = format!(
        "{}://{}{path}",
        upstream.scheme_str().unwrap_or("http"),
        upstream
            .authority()
            .map_or("", axum::http::uri::Authority::as_str)
    );
    let mut request = hyper::Request::new(Full::new(body));
    *request.method_mut() = parts.method;
    *request.uri_mut() = uri.parse().unwrap_or_else(|_| upstream.clone());
    *request.headers_mut() = parts.headers;
    request
}

fn internal_failure() -> Response<Body> {
    error_xml(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Receiver",
        "InternalFailure",
        "The request processing has failed because of an unknown error, exception or failure.",
    )
}

/// An AWS query-protocol error document, as RDS and ElastiCache send them.
fn error_xml(status: StatusCode, type_: &str, code: &str, message: &str) -> Response<Body> {
    let body = format!(
        "<ErrorResponse><Error><Type>{type_}</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>aws-faults</RequestId></ErrorResponse>",
        escape(message)
    );
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// An upstream that counts the requests it acts on and answers 200 `ok`.
    async fn upstream() -> (String, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&hits);
        let app = Router::new().fallback(move || {
            let counted = Arc::clone(&counted);
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                "ok"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), hits)
    }

    async fn post(endpoint: &str, form: &str) -> (u16, String) {
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let request = hyper::Request::post(format!("{endpoint}/"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(form.to_owned())))
            .unwrap();
        let response = client.request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_lost_response_reaches_aws_but_the_client_sees_a_500_and_throttles_never_reach_it() {
        let (upstream, hits) = upstream().await;
        let rules = vec![
            Rule::parse("CreateDBInstance:lose=1").unwrap(),
            Rule::parse("ModifyDBInstance:throttle=1").unwrap(),
            Rule::parse("DeleteDBInstance:fail=1").unwrap(),
            Rule::parse("RebootDBInstance:deny=1").unwrap(),
        ];
        let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), &upstream, rules, 1)
            .await
            .unwrap();
        let endpoint = proxy.endpoint();

        // Each call, the answer the client gets, and how many calls AWS has acted on since.
        for (action, instance, want_status, want_code, want_hits) in [
            // Lost: AWS acted on it.
            ("CreateDBInstance", "db-1", 500, "InternalFailure", 1),
            // Throttled and failed calls never reach AWS.
            ("ModifyDBInstance", "db-1", 400, "Throttling", 1),
            ("DeleteDBInstance", "db-1-r1", 500, "InternalFailure", 1),
            // Denied as IAM denies: 403, and AWS never saw it.
            ("RebootDBInstance", "db-1", 403, "AccessDenied", 1),
        ] {
            let form = format!("Action={action}&DBInstanceIdentifier={instance}");
            let (status, body) = post(&endpoint, &form).await;
            assert_eq!(status, want_status, "{form}: {body}");
            let code = format!("<Code>{want_code}</Code>");
            assert!(body.contains(&code), "{form}: {body}");
            assert_eq!(hits.load(Ordering::SeqCst), want_hits, "{form}");
        }

        assert_eq!(
            post(&endpoint, "Action=DescribeDBInstances").await,
            (200, "ok".to_owned())
        );
        assert_eq!(hits.load(Ordering::SeqCst), 2);

        let calls = proxy.calls();
        assert_eq!(calls.count("CreateDBInstance", "db-1"), 1);
        assert_eq!(calls.reached("DeleteDBInstance", "db-1"), 0);
        assert_eq!(
            calls.count("DeleteDBInstance", "db-1"),
            1,
            "a replica's call is its object's"
        );
        assert_eq!(calls.reached("RebootDBInstance", "db-1"), 0);
        assert_eq!(calls.most_mutating_per_minute("db-1"), 4);

        proxy.set_rules(Vec::new());
        assert_eq!(
            post(
                &endpoint,
                "Action=CreateDBInstance&DBInstanceIdentifier=db-1"
            )
            .await
            .0,
            200
        );

        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let response = client
            .get(format!("{endpoint}/_faults/calls").parse().unwrap())
            .await
            .unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let record: Vec<Call> = serde_json::from_slice(&body).unwrap();
        let shown = |list: &[Call]| -> Vec<(String, String, Fate)> {
            list.iter()
                .map(|c| (c.action.clone(), c.resource.clone(), c.fate))
                .collect()
        };
        assert_eq!(shown(&record), shown(&calls.all()));
        assert_eq!(record.len(), 6);
        assert_eq!(record[0].fate, Fate::Lost);
    }
}
