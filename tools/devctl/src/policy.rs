//! The permissions `template.yaml` grants each function, read from its `Policies` (and,
//! as SAM adds it, `sqs:SendMessage` on an SQS on-failure destination), so tests can
//! compare them with the requests the function really makes.

use std::collections::BTreeSet;
use std::fmt;

use serde_yaml_ng::Value;

use crate::{DevError, TABLE_RESOURCE, TEMPLATE};

/// What a permission applies to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// The users table.
    Table,
    /// One of its indexes.
    Index(String),
    /// An SQS queue of the template, by logical id.
    Queue(String),
}

/// One DynamoDB action on one target, e.g. `dynamodb:Query` on `index/email-index`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grant {
    /// The IAM action (`dynamodb:PutItem`).
    pub action: String,
    /// What it is allowed on.
    pub target: Target,
}

impl Grant {
    /// `action` on `target`.
    pub fn new(action: &str, target: Target) -> Self {
        Self {
            action: action.to_owned(),
            target,
        }
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Table => write!(f, "{} on the table", self.action),
            Target::Index(i) => write!(f, "{} on index/{i}", self.action),
            Target::Queue(q) => write!(f, "{} on queue {q}", self.action),
        }
    }
}

/// The grants of the function whose `BuildProperties.Binary` is `binary`: every `Allow`
/// statement's actions times its resources. A resource this reader does not understand
/// is an error, not a silent omission.
pub fn function_grants(binary: &str) -> Result<BTreeSet<Grant>, DevError> {
    grants_in(TEMPLATE, binary)
}

fn grants_in(template: &str, binary: &str) -> Result<BTreeSet<Grant>, DevError> {
    let doc: Value =
        serde_yaml_ng::from_str(template).map_err(|e| DevError::Template(e.to_string()))?;
    let resources = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or_else(|| DevError::Template("no Resources".into()))?;
    let function = resources
        .values()
        .find(|r| {
            r.get("Metadata")
                .and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .and_then(Value::as_str)
                == Some(binary)
        })
        .ok_or_else(|| DevError::Template(format!("no function builds {binary}")))?;
    let queues = |id: &str| {
        resources
            .get(id)
            .and_then(|r| r.get("Type"))
            .and_then(Value::as_str)
            == Some("AWS::SQS::Queue")
    };
    let mut grants = BTreeSet::new();
    // SAM's own policy for an asynchronous-invocation destination: sqs:SendMessage on it.
    if let Some(destinations) = function
        .get("Properties")
        .and_then(|p| p.get("EventInvokeConfig"))
        .and_then(|c| c.get("DestinationConfig"))
        .and_then(Value::as_mapping)
    {
        for destination in destinations.values() {
            let kind = destination.get("Type").and_then(Value::as_str);
            let target = destination
                .get("Destination")
                .and_then(|d| target(d, &queues));
            match (kind, target) {
                (Some("SQS"), Some(t @ Target::Queue(_))) => {
                    grants.insert(Grant::new("sqs:SendMessage", t));
                }
                _ => {
                    return Err(DevError::Template(format!(
                        "{binary}: destination {destination:?} is not understood"
                    )));
                }
            }
        }
    }
    let policies = function
        .get("Properties")
        .and_then(|p| p.get("Policies"))
        .and_then(Value::as_sequence)
        .ok_or_else(|| DevError::Template(format!("{binary}: no Policies list")))?;
    for policy in policies {
        let statements = policy
            .get("Statement")
            .and_then(Value::as_sequence)
            .ok_or_else(|| DevError::Template(format!("{binary}: a policy without Statement")))?;
        for statement in statements {
            if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
                return Err(DevError::Template(format!(
                    "{binary}: only Allow statements are understood"
                )));
            }
            let actions = strings(statement.get("Action"));
            let targets = list(statement.get("Resource"))
                .into_iter()
                .map(|r| {
                    target(r, &queues)
                        .ok_or_else(|| DevError::Template(format!("{binary}: resource {r:?}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if actions.is_empty() || targets.is_empty() {
                return Err(DevError::Template(format!(
                    "{binary}: a statement without Action or Resource"
                )));
            }
            for action in &actions {
                for t in &targets {
                    grants.insert(Grant::new(action, t.clone()));
                }
            }
        }
    }
    Ok(grants)
}

fn list(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Sequence(s)) => s.iter().collect(),
        Some(other) => vec![other],
        None => Vec::new(),
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    list(v)
        .into_iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// `!GetAtt UsersTable.Arn` is the table; `!Sub "${UsersTable.Arn}/index/<name>"` an
/// index of it; `!GetAtt <Id>.Arn` of a resource `is_queue` says is an SQS queue, that
/// queue.
fn target(v: &Value, is_queue: &dyn Fn(&str) -> bool) -> Option<Target> {
    let Value::Tagged(t) = v else { return None };
    let text = t.value.as_str()?;
    let arn = format!("{TABLE_RESOURCE}.Arn");
    if t.tag == "GetAtt" && text == arn {
        return Some(Target::Table);
    }
    if t.tag == "GetAtt"
        && let Some(id) = text.strip_suffix(".Arn")
        && is_queue(id)
    {
        return Some(Target::Queue(id.to_owned()));
    }
    if t.tag == "Sub" {
        let rest = text.strip_prefix(&format!("${{{arn}}}"))?;
        if rest.is_empty() {
            return Some(Target::Table);
        }
        return rest
            .strip_prefix("/index/")
            .map(|i| Target::Index(i.to_owned()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_become_action_target_pairs() {
        let template = r#"
Resources:
  F:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: f
    Properties:
      Policies:
        - Statement:
            - Effect: Allow
              Action: [dynamodb:GetItem, dynamodb:PutItem]
              Resource: !GetAtt UsersTable.Arn
            - Effect: Allow
              Action: dynamodb:Query
              Resource:
                - !Sub "${UsersTable.Arn}/index/a-index"
"#;
        let grants = grants_in(template, "f").unwrap();
        let expected: BTreeSet<Grant> = [
            Grant::new("dynamodb:GetItem", Target::Table),
            Grant::new("dynamodb:PutItem", Target::Table),
            Grant::new("dynamodb:Query", Target::Index("a-index".into())),
        ]
        .into();
        assert_eq!(grants, expected);
        let with_destination = template.replace(
            "    Properties:\n      Policies:",
            "    Properties:\n      EventInvokeConfig:\n        DestinationConfig:\n          OnFailure:\n            Type: SQS\n            Destination: !GetAtt Q.Arn\n      Policies:",
        ) + "  Q:\n    Type: AWS::SQS::Queue\n";
        let grants = grants_in(&with_destination, "f").unwrap();
        assert!(grants.contains(&Grant::new("sqs:SendMessage", Target::Queue("Q".into()))));
        assert_eq!(grants.len(), expected.len() + 1);
        let elsewhere = with_destination.replace("Type: SQS\n", "Type: SNS\n");
        assert!(
            grants_in(&elsewhere, "f").is_err(),
            "only SQS is understood"
        );
        assert!(grants_in(template, "g").is_err());
        let wildcard = template.replace("!GetAtt UsersTable.Arn", "\"*\"");
        assert!(
            grants_in(&wildcard, "f").is_err(),
            "a wildcard is not understood"
        );
    }

    #[test]
    fn every_function_of_the_template_has_grants() {
        for binary in [
            "upsert-users",
            "delete-users",
            "delete-or-restore-users",
            "delete-users-by-filter",
            "cleanup-users",
            "read-users",
        ] {
            assert!(!function_grants(binary).unwrap().is_empty(), "{binary}");
        }
    }
}
