//! The server's Prometheus metrics (served by [`crate::observe`] as `GET /admin/metrics`).
//!
//! Every answer is counted by route template (never the raw path, so ids do not blow up the
//! label set), method and status, with its latency; every problem answer also by its problem
//! type (`quota-exhausted`, `storage-unavailable`, `conflict`, ...), which the error renderer
//! marks on the response (`error::ProblemType`). The policy's own counts (trajectories by outcome,
//! decisions by exploration) are added by the otc handlers.

use crate::error::ProblemType;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The media type of the exposition (Prometheus scrapes it natively).
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of a request count.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The route template, e.g. `/admin/modules/{id}`; `unmatched` for no route.
    pub route: String,
    /// The status code answered.
    pub status: u16,
}

/// Labels of a latency histogram.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The route template.
    pub route: String,
}

/// Labels of a problem count.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProblemLabels {
    /// The route template.
    pub route: String,
    /// The problem type, e.g. `quota-exhausted`.
    pub problem: String,
}

/// Labels of a trajectory count.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `accepted`, `duplicate`, `conflict`, `invalid` or `failed`.
    pub outcome: String,
}

/// Labels of a decision count.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `policy` for the policy's own choice, else what was explored (`budget_up`, ...).
    pub choice: String,
}

fn latency_histogram() -> Histogram {
    // 0.1 ms to about 2.4 s.
    Histogram::new(exponential_buckets(0.000_1, 2.5, 12))
}

/// The server's metrics and the registry that exposes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    problems: Family<ProblemLabels, Counter>,
    trajectories: Family<OutcomeLabels, Counter>,
    decisions: Family<DecisionLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let problems = Family::<ProblemLabels, Counter>::default();
        let trajectories = Family::<OutcomeLabels, Counter>::default();
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "admin_http_requests",
            "Requests answered, by route template, method and status",
            requests.clone(),
        );
        registry.register(
            "admin_http_request_duration_seconds",
            "Time to answer a request, body included, by route template and method",
            latency.clone(),
        );
        registry.register(
            "admin_problems",
            "Error answers by route template and problem type (quota-exhausted, \
             storage-unavailable, conflict, internal, ...)",
            problems.clone(),
        );
        registry.register(
            "otc_trajectories",
            "Trajectories posted, by outcome (accepted, duplicate, conflict, invalid, failed)",
            trajectories.clone(),
        );
        registry.register(
            "otc_decisions",
            "Decisions served, by choice (policy, or what was explored)",
            decisions.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            problems,
            trajectories,
            decisions,
        }
    }
}

impl Metrics {
    /// The exposition text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// Counts `n` trajectories with `outcome`.
    pub fn count_trajectories(&self, outcome: &str, n: u64) {
        if n > 0 {
            self.trajectories
                .get_or_create(&OutcomeLabels {
                    outcome: outcome.to_owned(),
                })
                .inc_by(n);
        }
    }

    /// Counts one decision by its choice.
    pub fn count_decision(&self, choice: &str) {
        self.decisions
            .get_or_create(&DecisionLabels {
                choice: choice.to_owned(),
            })
            .inc();
    }

    /// Counts one answered request.
    pub fn record(&self, method: &str, route: &str, response: &Response, seconds: f64) {
        let route = route.to_owned();
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.clone(),
                status: response.status().as_u16(),
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.clone(),
            })
            .observe(seconds);
        if let Some(ProblemType(problem)) = response.extensions().get::<ProblemType>() {
            self.problems
                .get_or_create(&ProblemLabels {
                    route,
                    problem: problem.clone(),
                })
                .inc();
        }
    }
}
