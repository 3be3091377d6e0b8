//! The refresh state machine's definition (`statemachine/refresh.asl.json`), the one file that
//! runs in Step Functions and on the local runner, with its `DefinitionSubstitutions`: the
//! steps' Lambda function ARNs and the topic the success message goes to.

use std::collections::BTreeMap;

use crate::lambda::Step;

/// The definition as committed, with `${Name}` placeholders.
pub const DEFINITION: &str = include_str!("../../../statemachine/refresh.asl.json");

/// The placeholder of each step's function ARN.
pub fn function_placeholder(step: Step) -> &'static str {
    match step {
        Step::StartImport => "StartImportFunctionArn",
        Step::PollStatus => "PollStatusFunctionArn",
        Step::CreateVersion => "CreateVersionFunctionArn",
        Step::UpdateCampaign => "UpdateCampaignFunctionArn",
    }
}

/// The placeholder of the topic the success message is published to.
pub const TOPIC_PLACEHOLDER: &str = "NotificationTopicArn";

/// Every step, in the order a run calls them first.
pub const STEPS: [Step; 4] = [
    Step::StartImport,
    Step::PollStatus,
    Step::CreateVersion,
    Step::UpdateCampaign,
];

/// The values of the definition's placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substitutions(BTreeMap<String, String>);

impl Substitutions {
    /// Functions named after their steps (`start-import`, ...) in `region` and `account`, as
    /// the local runner registers them, and `topic_arn`.
    pub fn local(region: &str, account: &str, topic_arn: &str) -> Self {
        let mut values = BTreeMap::new();
        for step in STEPS {
            values.insert(
                function_placeholder(step).to_owned(),
                format!("arn:aws:lambda:{region}:{account}:function:{}", step.name()),
            );
        }
        values.insert(TOPIC_PLACEHOLDER.to_owned(), topic_arn.to_owned());
        Self(values)
    }

    /// The value of `placeholder`, if given.
    pub fn get(&self, placeholder: &str) -> Option<&str> {
        self.0.get(placeholder).map(String::as_str)
    }
}

/// The definition with every `${Name}` replaced, as CloudFormation does with a state machine's
/// `DefinitionSubstitutions`; an error names a placeholder without a value.
pub fn definition(substitutions: &Substitutions) -> Result<String, String> {
    let mut out = String::with_capacity(DEFINITION.len());
    let mut rest = DEFINITION;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "statemachine/refresh.asl.json: a `${` is never closed".to_owned())?;
        let name = &after[..end];
        let value = substitutions.get(name).ok_or_else(|| {
            format!("statemachine/refresh.asl.json: no value for the placeholder ${{{name}}}")
        })?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Every placeholder the definition uses, each once, sorted.
pub fn placeholders() -> Vec<String> {
    let mut names: Vec<String> = DEFINITION
        .split("${")
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name.to_owned()))
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::error::StepError;

    #[test]
    fn every_placeholder_has_a_local_value_and_the_result_is_json_naming_each_function() {
        // GIVEN the local substitutions
        let substitutions = Substitutions::local(
            "us-east-1",
            "000000000000",
            "arn:aws:sns:us-east-1:000000000000:runs",
        );

        // WHEN the definition is substituted
        let text = definition(&substitutions).expect("every placeholder has a value");

        // THEN no placeholder is left, the placeholders are exactly the functions and the
        // topic, and each function is named by its ARN
        assert!(!text.contains("${"), "{text}");
        let mut expected: Vec<String> = STEPS
            .iter()
            .map(|s| function_placeholder(*s).to_owned())
            .chain([TOPIC_PLACEHOLDER.to_owned()])
            .collect();
        expected.sort();
        assert_eq!(placeholders(), expected);
        let parsed: Value = serde_json::from_str(&text).expect("the definition is JSON");
        assert_eq!(
            parsed["States"]["Import"]["Resource"],
            "arn:aws:lambda:us-east-1:000000000000:function:start-import"
        );
    }

    /// Every `ErrorEquals` name of a machine's `Retry` and `Catch`, nested machines included.
    fn error_names(machine: &Value, found: &mut Vec<String>) {
        for state in machine["States"]
            .as_object()
            .into_iter()
            .flat_map(|s| s.values())
        {
            for field in ["Retry", "Catch"] {
                for rule in state[field].as_array().into_iter().flatten() {
                    for name in rule["ErrorEquals"].as_array().into_iter().flatten() {
                        found.push(name.as_str().unwrap_or_default().to_owned());
                    }
                }
            }
            error_names(&state["ItemProcessor"], found);
            for branch in state["Branches"].as_array().into_iter().flatten() {
                error_names(branch, found);
            }
        }
    }

    #[test]
    fn every_error_the_definition_matches_is_one_step_functions_lambda_or_the_steps_raise() {
        // GIVEN the definition and the names the steps' errors carry
        let parsed: Value = serde_json::from_str(DEFINITION).expect("the definition is JSON");
        let ours: Vec<&str> = [
            StepError::RetryableConflict(String::new()),
            StepError::InvalidRequest(String::new()),
            StepError::ResourceFailed(String::new()),
        ]
        .iter()
        .map(StepError::name)
        .collect();

        // WHEN every name its Retry and Catch rules match is read
        let mut names = Vec::new();
        error_names(&parsed, &mut names);

        // THEN each is Step Functions' own, Lambda's, or one a step raises
        assert!(names.contains(&"RetryableConflict".to_owned()), "{names:?}");
        for name in &names {
            assert!(
                name.starts_with("States.")
                    || name.starts_with("Lambda.")
                    || ours.contains(&name.as_str()),
                "{name} is matched by the definition but raised by nothing"
            );
        }
    }

    #[test]
    fn a_missing_value_is_named() {
        let mut partial = Substitutions::local("us-east-1", "000000000000", "t");
        partial.0.remove(TOPIC_PLACEHOLDER);
        let error = definition(&partial).unwrap_err();
        assert!(error.contains("${NotificationTopicArn}"), "{error}");
    }
}
