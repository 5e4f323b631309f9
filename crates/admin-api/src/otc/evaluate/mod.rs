//! `POST /admin/otc/evaluate`: what a candidate policy config would have done on the decisions
//! already logged (off-policy, `otc_policy::evaluate`, through the store's
//! `PolicyBackend::evaluate`). Read-only. Every problem with the body is a 422 at its JSON
//! pointer; a refusal (no estimate can be given) is a 422 of its own type,
//! `evaluation-refused` (see `stores.rs`).

pub mod candidate;
pub mod schema;

use crate::error::{AppError, Problem, ProblemItem};
use crate::extract::{Json, JsonBytes, client_words, decode, plain_name};
use crate::state::AppState;
use axum::extract::State;
use otc_policy::PolicyConfig;
use otc_policy::evaluate::Scope;
use schema::{EvaluateRequest, EvaluationReport};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The endpoint of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_evaluate))
}

/// One evaluation at a time per server: an evaluation replays the whole log on a CPU, and
/// several at once would slow the request path (decisions, trajectories) that shares the
/// machine. Others wait their turn within the request timeout. The permit travels into the
/// blocking task, so a request that times out still holds it until its replay has finished.
static EVALUATIONS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// Estimates what `candidate` would have done on the logged decisions in `scope`: its mean
/// composite reward, accuracy and tool calls per request, each by IPS, SNIPS and doubly
/// robust with a 95 % interval, beside what the logging policy did. Read SNIPS first; below
/// an effective sample size of 200 the intervals are unreliable (`notes` says so).
///
/// Only decisions whose trajectory named them (`decision_id`) are evaluated on, and every
/// candidate is judged by the reward the traffic was logged with. Read-only: nothing is
/// written. The whole log is replayed, one evaluation at a time per server, within the
/// request timeout (`otc evaluate` has none, for very large logs).
#[utoipa::path(post, path = "/admin/otc/evaluate", tag = "otc",
    request_body(description = "The candidate config and which logged decisions to evaluate it on", content = EvaluateRequest),
    responses(
        (status = 200, description = "The candidate's estimated outcomes beside the logged ones", body = EvaluationReport),
        (status = 422, description = "A body of the wrong shape or an out-of-range candidate or scope (problem type `validation-failed`, `errors` points at each member to blame); or no estimate can be given (problem type `evaluation-refused`, the reason in `detail`): no decision in scope has a trajectory, or the candidate would take actions the log never took (explore more first)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "The stored log could not be replayed (problem type `evaluation-failed`): damaged or inconsistent data", body = Problem, content_type = "application/problem+json"),
    ))]
async fn post_evaluate(
    State(state): State<AppState>,
    JsonBytes(body): JsonBytes,
) -> Result<Json<EvaluationReport>, AppError> {
    // Decoded as a `Value` whatever its shape: `read_request` points at every member to
    // blame, a body that is an array included.
    let (candidate, scope) = read_request(&decode::<Value>(&body)?)?;
    let permit = EVALUATIONS
        .acquire()
        .await
        .map_err(|e| AppError::internal(format!("evaluation permit: {e}")))?;
    state
        .blocking(move |inner| {
            let report = inner.policy.evaluate(&candidate, &scope);
            drop(permit);
            Ok(Json(report?.into()))
        })
        .await
}

/// The candidate and the scope of a body, or every problem with it at its pointer.
fn read_request(body: &Value) -> Result<(PolicyConfig, Scope), AppError> {
    if let Some(item) = array_problem(body).or_else(|| per_intent_problem(body)) {
        return Err(AppError::InvalidItems(vec![item]));
    }
    let request: EvaluateRequest =
        serde_path_to_error::deserialize(body).map_err(|e| shape_problem(&e))?;
    let mut problems = range_problems(&request.candidate, body);
    let scope = request.scope.unwrap_or_default();
    problems.extend(scope_problems(&scope));
    if problems.is_empty() {
        Ok((request.candidate, scope.into()))
    } else {
        Err(AppError::InvalidItems(problems))
    }
}

/// An array where the body has an object: serde reads a struct from an array too (its
/// members by position, so `"budget": [3]` would be a `max_budget` of 3), which the document
/// does not allow and no client means.
fn array_problem(body: &Value) -> Option<ProblemItem> {
    let candidate = body.get("candidate");
    let sections = ["reward", "cost", "estimator", "budget"];
    let mut places: Vec<(String, Option<&Value>)> = vec![
        ("".to_owned(), Some(body)),
        ("/candidate".to_owned(), candidate),
        ("/scope".to_owned(), body.get("scope")),
    ];
    for section in sections {
        places.push((
            format!("/candidate/{section}"),
            candidate.and_then(|c| c.get(section)),
        ));
    }
    places.push((
        "/candidate/cost/per_intent".to_owned(),
        candidate
            .and_then(|c| c.get("cost"))
            .and_then(|c| c.get("per_intent")),
    ));
    places
        .into_iter()
        .find(|(_, value)| value.is_some_and(Value::is_array))
        .map(|(pointer, _)| ProblemItem {
            pointer,
            detail: "invalid type: an array, expected an object".to_owned(),
        })
}

/// The keys of `candidate.cost.per_intent` are intents, checked by the intent rule before the
/// config is read: the cost normaliser's own message would repeat a key, which is the
/// client's text (an intent that breaks the rule could never match a logged one anyway).
fn per_intent_problem(body: &Value) -> Option<ProblemItem> {
    let intents = body
        .get("candidate")?
        .get("cost")?
        .get("per_intent")?
        .as_object()?;
    let err = intents
        .keys()
        .find_map(|intent| otc_policy::trajectory::check_intent(intent).err())?;
    Some(ProblemItem {
        pointer: "/candidate/cost/per_intent".to_owned(),
        detail: format!("a key is not an intent name: {err}"),
    })
}

/// A body of the wrong shape, at the member to blame: serde's path, plus the member's own
/// name when serde names an unknown or missing one. A path segment that is not a plain name
/// (an intent key of `cost.per_intent` is the client's text) ends the pointer there.
fn shape_problem(err: &serde_path_to_error::Error<serde_json::Error>) -> AppError {
    let mut segments = Vec::new();
    for segment in err.path().iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => segments.push(index.to_string()),
            serde_path_to_error::Segment::Map { key } if plain_name(key) => {
                segments.push(key.clone());
            }
            serde_path_to_error::Segment::Unknown => {}
            _ => break,
        }
    }
    let inner = err.inner().to_string();
    // serde names an unknown or missing member; otc-policy's own checks begin with the
    // member they refuse (`default_reference` must be ...).
    let named = ["unknown field `", "missing field `", "`"]
        .iter()
        .find_map(|prefix| inner.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next())
        .filter(|name| plain_name(name));
    if let Some(name) = named
        && segments.last().map(String::as_str) != Some(name)
    {
        segments.push(name.to_owned());
    }
    let pointer: String = segments.iter().map(|s| format!("/{s}")).collect();
    AppError::InvalidItems(vec![ProblemItem {
        pointer,
        detail: client_words(&inner),
    }])
}

/// The knobs of an out-of-range candidate to blame, each at its pointer, with otc-policy's own
/// words (`PolicyConfig::range_problems`): a knob out of its own range at that knob; a rule
/// between knobs (`cold_start` at most `max_budget`, the exploration shares' sum) at each of
/// its knobs the body sent, or at the section when it sent none of them.
fn range_problems(candidate: &PolicyConfig, body: &Value) -> Vec<ProblemItem> {
    let mut items: Vec<ProblemItem> = Vec::new();
    for problem in candidate.range_problems() {
        let section = problem.section;
        let sent = &body["candidate"][section];
        let blamed: Vec<&str> = problem
            .knobs
            .iter()
            .copied()
            .filter(|knob| sent.get(knob).is_some())
            .collect();
        let pointers: Vec<String> = if blamed.is_empty() {
            vec![format!("/candidate/{section}")]
        } else {
            blamed
                .iter()
                .map(|knob| format!("/candidate/{section}/{knob}"))
                .collect()
        };
        for pointer in pointers {
            items.push(ProblemItem {
                pointer,
                detail: problem.detail.clone(),
            });
        }
    }
    items
}

/// The scope's names by the rules of a request's (a malformed name is a mistake to report,
/// not a filter that matches nothing), and a window that ends before it starts.
fn scope_problems(scope: &schema::EvaluationScope) -> Vec<ProblemItem> {
    let mut problems = Vec::new();
    if let Some(intent) = &scope.intent
        && let Err(e) = otc_policy::trajectory::check_intent(intent)
    {
        problems.push(ProblemItem {
            pointer: "/scope/intent".to_owned(),
            detail: e.to_string(),
        });
    }
    if let Some(modules) = &scope.modules {
        // `check_names` checks an intent beside the modules: the scope's own is checked above.
        let checked = otc_policy::trajectory::check_names("any", modules)
            .and_then(|()| otc_policy::ModuleSet::new(modules).map(drop));
        if let Err(e) = checked {
            problems.push(ProblemItem {
                pointer: "/scope/modules".to_owned(),
                detail: e.to_string(),
            });
        }
    }
    if let (Some(since), Some(until)) = (scope.since_ms, scope.until_ms)
        && until < since
    {
        problems.push(ProblemItem {
            pointer: "/scope/until_ms".to_owned(),
            detail: format!("until_ms {until} is before since_ms {since}"),
        });
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(body: Value) -> Vec<ProblemItem> {
        match read_request(&body) {
            Err(AppError::InvalidItems(items)) => items,
            Err(other) => panic!("{body}: {other:?}"),
            Ok(_) => panic!("{body} was accepted"),
        }
    }

    /// The pointers of the problems with `body`, sorted.
    fn pointers(body: Value) -> Vec<String> {
        let mut pointers: Vec<String> = problems(body).into_iter().map(|p| p.pointer).collect();
        pointers.sort();
        pointers
    }

    #[test]
    fn a_partial_candidate_and_a_missing_scope_are_read() {
        let (candidate, scope) =
            read_request(&json!({"candidate": {"budget": {"explore_up": 0.1}}})).unwrap();
        assert_eq!(candidate.budget.explore_up, 0.1);
        assert_eq!(candidate.budget.max_budget, 16, "the rest is the default");
        assert_eq!(scope, Scope::default());
        let (_, scope) = read_request(&json!({"candidate": {}, "scope": {
            "intent": "lookup", "modules": ["b", "a"], "since_ms": 5, "until_ms": 9}}))
        .unwrap();
        assert_eq!(scope.intent.as_deref(), Some("lookup"));
        assert_eq!(scope.until_ms, Some(9));
    }

    #[test]
    fn shape_problems_point_at_the_member() {
        for (body, pointer) in [
            (json!({}), "/candidate"),
            (json!({"candidate": {}, "extra": 1}), "/extra"),
            (
                json!({"candidate": {"budget": {"tolerence": 0.2}}}),
                "/candidate/budget/tolerence",
            ),
            (
                json!({"candidate": {"budget": {"max_budget": "16"}}}),
                "/candidate/budget/max_budget",
            ),
            (
                json!({"candidate": {"reward": {"alpha": -1}}}),
                "/candidate/reward",
            ),
            (json!({"candidate": [], "scope": {}}), "/candidate"),
            (json!({"candidate": {"budget": [3]}}), "/candidate/budget"),
            (json!({"candidate": {}, "scope": ["x"]}), "/scope"),
            (json!([{"candidate": {}}]), ""),
            (
                json!({"candidate": {}, "scope": {"intent": 3}}),
                "/scope/intent",
            ),
            (
                json!({"candidate": {}, "scope": {"limit": 3}}),
                "/scope/limit",
            ),
        ] {
            assert_eq!(pointers(body.clone()), [pointer], "{body}");
        }
        // A member name that is not a plain name is not repeated.
        let odd = problems(json!({"candidate": {}, "a secret": 1}));
        assert_eq!(odd[0].pointer, "");
        assert!(!odd[0].detail.contains("secret"), "{odd:?}");
        // Nor is an intent key of the cost section, even where the normaliser names it.
        let key = problems(json!({"candidate": {"cost": {"default_reference": 1,
            "per_intent": {"x\"secret": -1}}}}));
        assert_eq!(key[0].pointer, "/candidate/cost/per_intent");
        assert!(!key[0].detail.contains("secret"), "{key:?}");
        let named = problems(json!({"candidate": {"cost": {"default_reference": 1,
            "per_intent": {"lookup": -1}}}}));
        assert_eq!(named[0].pointer, "/candidate/cost/per_intent");
        let default = problems(json!({"candidate": {"cost": {"default_reference": 0}}}));
        assert_eq!(default[0].pointer, "/candidate/cost/default_reference");
        assert_eq!(
            default[0].detail,
            "`default_reference` must be finite and > 0, got 0"
        );
        // Partial like every other section: a cost section without `default_reference`
        // takes the default.
        let (partial, _) =
            read_request(&json!({"candidate": {"cost": {"per_intent": {"x": 5}}}})).unwrap();
        assert_eq!(partial.cost.reference("other"), 10.0);
        assert_eq!(partial.cost.reference("x"), 5.0);
    }

    #[test]
    fn range_problems_point_at_the_knobs_to_blame() {
        let at = |budget: Value| pointers(json!({"candidate": {"budget": budget}}));
        assert_eq!(
            at(json!({"tolerance": 0.9})),
            ["/candidate/budget/tolerance"]
        );
        assert_eq!(
            at(json!({"tolerance": 0.0, "explore_order": 0.7, "explore_up": 0.1})),
            [
                "/candidate/budget/explore_order",
                "/candidate/budget/tolerance"
            ],
            "explore_up 0.1 is fine with the other knobs"
        );
        // Only out of range together (0.35 + 0.5 + 0.1 explores more than 0.9 of the
        // decisions; 3 > 2): each knob of the rule that the body sent.
        assert_eq!(
            at(json!({"explore_up_undecided": 0.35, "explore_order": 0.1})),
            [
                "/candidate/budget/explore_order",
                "/candidate/budget/explore_up_undecided"
            ]
        );
        assert_eq!(
            at(json!({"max_budget": 2, "cold_start": 3})),
            [
                "/candidate/budget/cold_start",
                "/candidate/budget/max_budget"
            ]
        );
        assert_eq!(
            pointers(json!({"candidate": {"estimator": {"decay": 0}}})),
            ["/candidate/estimator/decay"]
        );
        let detail = &problems(json!({"candidate": {"budget": {"tolerance": 0.9}}}))[0].detail;
        assert_eq!(detail, "`tolerance` 0.9 must be in (0, 0.5)");
        // In its own range, out of range with the others' defaults: the rule is named, not the
        // knob's range.
        let shares = problems(json!({"candidate": {"budget": {"explore_up": 0.5}}}));
        assert_eq!(shares.len(), 1, "{shares:?}");
        assert_eq!(shares[0].pointer, "/candidate/budget/explore_up");
        assert_eq!(
            shares[0].detail,
            "at most 0.9 of decisions may explore: the larger of `explore_up` and \
             `explore_up_undecided` (0.5) plus `explore_down` (0.5) plus `explore_order` (0.03) \
             is 1.03: lower them by 0.13 in all"
        );
    }

    #[test]
    fn scope_problems_point_at_the_member() {
        let at = |scope: Value| pointers(json!({"candidate": {}, "scope": scope}));
        assert_eq!(at(json!({"intent": "bad name"})), ["/scope/intent"]);
        assert_eq!(at(json!({"modules": []})), ["/scope/modules"]);
        assert_eq!(at(json!({"modules": ["a", "a"]})), ["/scope/modules"]);
        assert_eq!(
            at(json!({"since_ms": 10, "until_ms": 9})),
            ["/scope/until_ms"]
        );
        // Both at once: every problem in one answer.
        assert_eq!(
            pointers(json!({"candidate": {"budget": {"tolerance": 0.9}}, "scope": {"intent": ""}})),
            ["/candidate/budget/tolerance", "/scope/intent"]
        );
    }
}
