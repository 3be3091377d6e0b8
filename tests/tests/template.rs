//! The SAM template (`infra/template.yaml`) held against the code it deploys: the definition's
//! placeholders and the template's substitutions, the function crates, the calls each step
//! makes and the grants its role has, and the run requests the schedules send.
//!
//! `cfn-lint`, `checkov` and `sam validate --lint` (run by `make test`) check the template
//! against CloudFormation; these tests check it against this workspace.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use refresh_core::config::PipelineConfig;
use refresh_core::request::{ImportMode, RunRequest, TrainingMode};
use refresh_core::statemachine::{STEPS, TOPIC_PLACEHOLDER, function_placeholder, placeholders};
use serde_norway::Value;

/// The Lambda function that starts runs from S3 events; the others are the definition's steps.
const START_EXECUTION: &str = "start-execution";

/// Actions IAM lets no narrower resource name, so that `Resource: "*"` is the only way to grant
/// them: Personalize's List actions, X-Ray's writes, and the log-delivery actions Step
/// Functions needs to log to CloudWatch Logs (its documentation grants them on `*`).
const RESOURCELESS_ACTIONS: [&str; 20] = [
    "personalize:ListDatasetGroups",
    "personalize:ListDatasets",
    "personalize:ListDatasetImportJobs",
    "personalize:ListSchemas",
    "personalize:ListEventTrackers",
    "personalize:ListSolutions",
    "personalize:ListSolutionVersions",
    "personalize:ListCampaigns",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template() -> Value {
    let path = repo().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path).expect("infra/template.yaml is readable");
    serde_norway::from_str(&text).expect("infra/template.yaml is YAML")
}

/// The value under a short-form tag (`!Ref X` is `X`), or the value itself.
fn untagged(value: &Value) -> &Value {
    match value {
        Value::Tagged(tagged) => &tagged.value,
        other => other,
    }
}

/// The tag of a short-form intrinsic function (`!GetAtt`), without its `!`.
fn tag(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) => Some(tagged.tag.to_string().trim_start_matches('!').to_owned()),
        _ => None,
    }
}

fn text(value: &Value) -> &str {
    untagged(value)
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, found {value:?}"))
}

fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(value, |v, key| {
        untagged(v)
            .get(*key)
            .unwrap_or_else(|| panic!("{path:?}: no {key:?} in {v:?}"))
    })
}

fn resources(template: &Value) -> BTreeMap<String, Value> {
    at(template, &["Resources"])
        .as_mapping()
        .expect("Resources is a mapping")
        .iter()
        .map(|(k, v)| (k.as_str().expect("a logical id").to_owned(), v.clone()))
        .collect()
}

fn of_type(template: &Value, kind: &str) -> BTreeMap<String, Value> {
    resources(template)
        .into_iter()
        .filter(|(_, r)| text(at(r, &["Type"])) == kind)
        .collect()
}

/// The logical id a `!Ref X` or `!GetAtt X.Attr` names.
fn referenced(value: &Value) -> String {
    let name = text(value);
    match tag(value).as_deref() {
        Some("Ref") => name.to_owned(),
        Some("GetAtt") => name.split('.').next().expect("a logical id").to_owned(),
        other => panic!("{value:?}: expected !Ref or !GetAtt, found {other:?}"),
    }
}

/// A string or a list of strings, as IAM's Action and Resource take them.
fn one_or_many(value: &Value) -> Vec<&Value> {
    match untagged(value) {
        Value::Sequence(items) => items.iter().collect(),
        _ => vec![value],
    }
}

/// The functions by the binary they run.
fn functions(template: &Value) -> BTreeMap<String, (String, Value)> {
    of_type(template, "AWS::Serverless::Function")
        .into_iter()
        .map(|(id, f)| {
            let binary = text(at(&f, &["Metadata", "BuildProperties", "Binary"])).to_owned();
            (binary, (id, f))
        })
        .collect()
}

/// Every policy statement in the template, with where it is: an IAM role's policy, a resource
/// policy, or a KMS key policy.
fn statements(template: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for (id, resource) in resources(template) {
        let properties = at(&resource, &["Properties"]);
        let mut documents = Vec::new();
        if let Some(policies) = untagged(properties).get("Policies") {
            for policy in one_or_many(policies) {
                documents.push(at(policy, &["PolicyDocument"]).clone());
            }
        }
        for key in ["PolicyDocument", "KeyPolicy"] {
            if let Some(document) = untagged(properties).get(key) {
                documents.push(document.clone());
            }
        }
        for document in documents {
            for statement in one_or_many(at(&document, &["Statement"])) {
                found.push((id.clone(), statement.clone()));
            }
        }
    }
    found
}

fn actions(statement: &Value) -> Vec<String> {
    one_or_many(at(statement, &["Action"]))
        .into_iter()
        .map(|a| text(a).to_owned())
        .collect()
}

/// The actions of one service (`personalize:`) a role grants.
fn grants(template: &Value, role: &str, service: &str) -> BTreeSet<String> {
    statements(template)
        .into_iter()
        .filter(|(id, s)| id == role && text(at(s, &["Effect"])) == "Allow")
        .flat_map(|(_, s)| actions(&s))
        .filter(|a| a.strip_prefix(service).is_some_and(|a| a.starts_with(':')))
        .collect()
}

/// `create_dataset_import_job` of `personalize` as IAM spells it:
/// `personalize:CreateDatasetImportJob`.
fn iam_action(service: &str, method: &str) -> String {
    let pascal: String = method
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    format!("{service}:{pascal}")
}

/// The Personalize client calls in `source`: `.describe_solution_version(`...
fn client_calls(source: &str) -> BTreeSet<String> {
    const VERBS: [&str; 7] = [
        "create_",
        "describe_",
        "list_",
        "update_",
        "get_",
        "stop_",
        "delete_",
    ];
    // The S3 calls a step makes are granted as S3 actions, not Personalize ones.
    const NOT_PERSONALIZE: [&str; 2] = ["get_object", "list_objects_v2"];
    let mut calls = BTreeSet::new();
    for (at, _) in source.match_indices('.') {
        let rest = &source[at + 1..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        let called = rest[name.len()..].starts_with('(');
        if called
            && VERBS.iter().any(|v| name.starts_with(v))
            && !NOT_PERSONALIZE.contains(&name.as_str())
        {
            calls.insert(name);
        }
    }
    calls
}

/// The functions of `crates/refresh-core/src/service.rs` by name, each with the Personalize
/// calls it makes itself or through the others.
fn service_helpers() -> BTreeMap<String, BTreeSet<String>> {
    let source = std::fs::read_to_string(repo().join("crates/refresh-core/src/service.rs"))
        .expect("service.rs is readable");
    let mut bodies = BTreeMap::new();
    for part in source.split("pub async fn ").skip(1) {
        let name: String = part
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let body = part.split("\npub ").next().unwrap_or(part).to_owned();
        bodies.insert(name, body);
    }
    let mut calls: BTreeMap<String, BTreeSet<String>> = bodies
        .iter()
        .map(|(name, body)| (name.clone(), client_calls(body)))
        .collect();
    // Helpers calling helpers: widen until nothing changes.
    loop {
        let mut changed = false;
        for (name, body) in &bodies {
            for (other, other_calls) in calls.clone() {
                if &other != name && body.contains(&format!("{other}(")) {
                    let mine = calls.get_mut(name).expect("every helper has calls");
                    let before = mine.len();
                    mine.extend(other_calls);
                    changed |= mine.len() != before;
                }
            }
        }
        if !changed {
            return calls;
        }
    }
}

#[test]
fn every_placeholder_of_the_definition_has_a_substitution_and_every_substitution_is_used() {
    // GIVEN the template's state machine and the committed definition's placeholders
    let template = template();
    let machine = at(
        &template,
        &["Resources", "RefreshStateMachine", "Properties"],
    );
    let substitutions: BTreeMap<String, Value> = at(machine, &["DefinitionSubstitutions"])
        .as_mapping()
        .expect("DefinitionSubstitutions is a mapping")
        .iter()
        .map(|(k, v)| (k.as_str().expect("a name").to_owned(), v.clone()))
        .collect();

    // THEN the template deploys the file refresh-core reads, and the two sets are equal
    assert_eq!(
        text(at(machine, &["DefinitionUri"])),
        "../statemachine/refresh.asl.json"
    );
    let given: Vec<String> = substitutions.keys().cloned().collect();
    assert_eq!(
        given,
        placeholders(),
        "template substitutions vs definition placeholders"
    );

    // AND each step's function ARN is the function that runs that step's binary
    let functions = functions(&template);
    for step in STEPS {
        let value = &substitutions[function_placeholder(step)];
        let (id, _) = &functions[step.name()];
        assert_eq!(tag(value).as_deref(), Some("GetAtt"), "{value:?}");
        assert_eq!(text(value), format!("{id}.Arn"), "{}", step.name());
    }
    // AND the topic is the notification topic
    let topic = referenced(&substitutions[TOPIC_PLACEHOLDER]);
    assert!(
        of_type(&template, "AWS::SNS::Topic").contains_key(&topic),
        "{topic}"
    );
}

#[test]
fn each_lambda_crate_is_one_arm64_function_with_its_own_role_and_json_logs_kept_for_a_while() {
    let template = template();
    let functions = functions(&template);
    let globals = at(&template, &["Globals", "Function"]);

    // THEN the functions are the steps and start-execution, each a crate of this workspace
    let mut expected: BTreeSet<String> = STEPS.iter().map(|s| s.name().to_owned()).collect();
    expected.insert(START_EXECUTION.to_owned());
    assert_eq!(functions.keys().cloned().collect::<BTreeSet<_>>(), expected);
    for binary in functions.keys() {
        let manifest = repo().join("crates").join(binary).join("Cargo.toml");
        let manifest = std::fs::read_to_string(&manifest)
            .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
        assert!(
            manifest.contains(&format!("name = \"{binary}\"")),
            "{binary}"
        );
    }

    // AND they run on provided.al2023 / arm64, built by cargo-lambda from the workspace
    assert_eq!(text(at(globals, &["Runtime"])), "provided.al2023");
    assert_eq!(
        at(globals, &["Architectures"]),
        &Value::Sequence(vec!["arm64".into()])
    );
    assert_eq!(text(at(globals, &["CodeUri"])), "..");
    assert!(at(globals, &["MemorySize"]).as_u64().is_some());
    assert!(at(globals, &["Timeout"]).as_u64().is_some());

    let log_groups = of_type(&template, "AWS::Logs::LogGroup");
    let mut roles = BTreeSet::new();
    for (binary, (id, function)) in &functions {
        assert_eq!(
            text(at(function, &["Metadata", "BuildMethod"])),
            "rust-cargolambda",
            "{id}"
        );
        let properties = at(function, &["Properties"]);
        // AND each has a role of its own
        let role = referenced(at(properties, &["Role"]));
        assert!(roles.insert(role.clone()), "{id} shares {role}");
        // AND JSON logs in a log group of its own, kept for a set time
        let logging = at(properties, &["LoggingConfig"]);
        assert_eq!(text(at(logging, &["LogFormat"])), "JSON", "{id}");
        let group = referenced(at(logging, &["LogGroup"]));
        let group = log_groups
            .get(&group)
            .unwrap_or_else(|| panic!("{id}: {group} is not a log group"));
        assert!(
            text(at(group, &["Properties", "LogGroupName"])).ends_with(&format!("/{binary}")),
            "{id}"
        );
        assert!(
            untagged(at(group, &["Properties"]))
                .get("RetentionInDays")
                .is_some()
        );
    }
}

#[test]
fn no_statement_allows_a_wildcard_action_and_star_resources_are_only_for_actions_without_one() {
    let template = template();
    let key_policies: BTreeSet<String> = of_type(&template, "AWS::KMS::Key").into_keys().collect();
    let mut star_grants = 0;
    for (id, statement) in statements(&template) {
        let actions = actions(&statement);
        let effect = text(at(&statement, &["Effect"]));
        if effect == "Deny" {
            // The only Deny: the data bucket refuses every S3 action over plain HTTP.
            assert_eq!(actions, ["s3:*"], "{id}");
            assert_eq!(
                text(at(
                    &statement,
                    &["Condition", "Bool", "aws:SecureTransport"]
                )),
                "false"
            );
            continue;
        }
        for action in &actions {
            assert!(!action.contains('*'), "{id} allows the wildcard {action}");
        }
        let resources = untagged(&statement)
            .get("Resource")
            .map(one_or_many)
            .unwrap_or_default();
        let star = resources.iter().any(|r| tag(r).is_none() && text(r) == "*");
        // In a key policy, "*" is the key itself.
        if star && !key_policies.contains(&id) {
            star_grants += 1;
            for action in &actions {
                assert!(
                    RESOURCELESS_ACTIONS.contains(&action.as_str()),
                    "{id} grants {action} on every resource, though it takes one"
                );
            }
        }
    }
    assert!(star_grants > 0, "the List and X-Ray grants were not seen");
}

#[test]
fn each_step_role_grants_exactly_the_personalize_calls_its_step_makes() {
    // GIVEN the Personalize calls each step's module makes, itself or through service.rs
    let template = template();
    let helpers = service_helpers();
    assert!(
        helpers["find_campaign"].contains("describe_campaign"),
        "helpers calling helpers are followed: {helpers:?}"
    );
    let functions = functions(&template);
    for step in STEPS {
        let module = step.name().replace('-', "_");
        let path = repo().join(format!("crates/refresh-core/src/steps/{module}.rs"));
        let source = std::fs::read_to_string(&path).expect("the step's module is readable");
        // Only the handler's code, not its tests.
        let source = source.split("#[cfg(test)]").next().unwrap_or(&source);
        let mut calls = client_calls(source);
        for (helper, helper_calls) in &helpers {
            if source.contains(&format!("{helper}(")) {
                calls.extend(helper_calls.iter().cloned());
            }
        }
        let needed: BTreeSet<String> = calls.iter().map(|c| iam_action("personalize", c)).collect();
        assert!(!needed.is_empty(), "{}: no calls found", step.name());

        // THEN its function's role grants those and nothing more
        let (_, function) = &functions[step.name()];
        let role = referenced(at(function, &["Properties", "Role"]));
        assert_eq!(
            grants(&template, &role, "personalize"),
            needed,
            "{} ({role})",
            step.name()
        );
    }
    // AND start-execution calls no Personalize API
    let (_, function) = &functions[START_EXECUTION];
    let role = referenced(at(function, &["Properties", "Role"]));
    assert!(grants(&template, &role, "personalize").is_empty());
}

#[test]
fn the_schedules_send_run_requests_the_pipeline_accepts_named_by_their_scheduled_time() {
    // GIVEN the template's parameter defaults and the worked example's config
    let template = template();
    let parameters = at(&template, &["Parameters"]);
    let config_path = repo().join("examples/movielens/config.json");
    let config = PipelineConfig::from_json(
        &std::fs::read_to_string(&config_path).expect("the worked example is readable"),
        "examples/movielens/config.json",
    )
    .expect("the worked example is a valid config");
    let schedules = of_type(&template, "AWS::Scheduler::Schedule");
    assert_eq!(schedules.len(), 2, "a weekly and a daily schedule");

    let mut requests = BTreeMap::new();
    for (id, schedule) in &schedules {
        let target = at(schedule, &["Properties", "Target"]);
        assert_eq!(
            referenced(at(target, &["Arn"])),
            "RefreshStateMachine",
            "{id}"
        );
        // WHEN its input is substituted as CloudFormation and the scheduler would
        let input = at(target, &["Input"]);
        assert_eq!(tag(input).as_deref(), Some("Sub"), "{id}");
        let mut json = text(input).replace("${DataBucket}", "my-data-bucket");
        for (name, parameter) in parameters.as_mapping().expect("parameters") {
            let name = name.as_str().expect("a parameter name");
            let default = match untagged(at(parameter, &["Default"])) {
                Value::Number(n) => n.to_string(),
                other => other.as_str().expect("a string default").to_owned(),
            };
            json = json.replace(&format!("${{{name}}}"), &default);
        }
        assert!(!json.contains("${"), "{id}: {json}");
        let at_time = |time: &str| {
            let value: serde_json::Value =
                serde_json::from_str(&json.replace("<aws.scheduler.scheduled-time>", time))
                    .unwrap_or_else(|e| panic!("{id}: {e}: {json}"));
            RunRequest::from_value(value).unwrap_or_else(|e| panic!("{id}: {e}"))
        };
        let request = at_time("2026-12-06T03:00:00Z");

        // THEN the pipeline takes the request, with the worked example's datasets
        request
            .check(&config)
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(
            request.config_uri,
            "s3://my-data-bucket/config/pipeline.json"
        );
        // AND each scheduled time is a run of its own
        assert_ne!(request.run_id, at_time("2026-12-13T03:00:00Z").run_id);
        requests.insert(id.clone(), request);
    }
    let weekly = &requests["WeeklyRunSchedule"];
    assert_eq!(weekly.training, TrainingMode::Full);
    let daily = &requests["DailyRunSchedule"];
    assert_eq!(daily.training, TrainingMode::Update);
    assert!(
        daily
            .imports
            .iter()
            .all(|i| i.mode == ImportMode::Incremental)
    );
    assert!(!daily.imports.is_empty());
}

#[test]
fn start_execution_is_given_the_settings_and_step_functions_calls_it_uses_and_is_started_by_objects_created()
 {
    let template = template();
    let functions = functions(&template);
    let (id, function) = &functions[START_EXECUTION];
    let variables = at(function, &["Properties", "Environment", "Variables"])
        .as_mapping()
        .expect("variables");
    let source = std::fs::read_to_string(repo().join("crates/start-execution/src/lib.rs"))
        .expect("start-execution's lib is readable");
    for (name, _) in variables {
        let name = name.as_str().expect("a variable name");
        assert!(
            source.contains(&format!("\"{name}\"")),
            "{id} sets {name}, which start-execution does not read"
        );
    }
    // Its role grants exactly the Step Functions calls it makes (`.sfn` then `.call(`).
    let called: BTreeSet<String> = source
        .split(".sfn")
        .skip(1)
        .filter_map(|after| {
            let call = after.trim_start().strip_prefix('.')?;
            let name: String = call
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            call[name.len()..]
                .starts_with('(')
                .then(|| iam_action("states", &name))
        })
        .collect();
    assert_eq!(
        called,
        BTreeSet::from([
            "states:DescribeExecution".to_owned(),
            "states:StartExecution".to_owned()
        ]),
        "the calls found"
    );
    let role = referenced(at(function, &["Properties", "Role"]));
    assert_eq!(grants(&template, &role, "states"), called, "{role}");
    let event = at(function, &["Properties", "Events", "DataLanded"]);
    assert_eq!(text(at(event, &["Type"])), "EventBridgeRule");
    let pattern = at(event, &["Properties", "Pattern"]);
    assert_eq!(
        at(pattern, &["detail-type"]),
        &Value::Sequence(vec!["Object Created".into()])
    );
    assert!(
        untagged(at(event, &["Properties"]))
            .get("DeadLetterConfig")
            .is_some()
    );
}

#[test]
fn runs_that_end_badly_reach_the_topic_and_the_outputs_name_what_users_need() {
    let template = template();
    let rule = at(&template, &["Resources", "RunEndedBadlyRule", "Properties"]);
    let pattern = at(rule, &["EventPattern"]);
    assert_eq!(
        referenced(one_or_many(at(pattern, &["detail", "stateMachineArn"]))[0]),
        "RefreshStateMachine"
    );
    let statuses: Vec<&str> = one_or_many(at(pattern, &["detail", "status"]))
        .into_iter()
        .map(text)
        .collect();
    assert_eq!(statuses, ["FAILED", "TIMED_OUT", "ABORTED"]);
    let target = &one_or_many(at(rule, &["Targets"]))[0];
    assert_eq!(referenced(at(target, &["Arn"])), "NotificationTopic");
    let topic = at(&template, &["Resources", "NotificationTopic", "Properties"]);
    assert!(untagged(topic).get("KmsMasterKeyId").is_some(), "encrypted");

    let outputs = at(&template, &["Outputs"]);
    for output in ["StateMachineArn", "DataBucketName", "NotificationTopicArn"] {
        assert!(untagged(outputs).get(output).is_some(), "{output}");
    }
}
