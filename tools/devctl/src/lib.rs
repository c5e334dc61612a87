//! Local operations on the users table, shared by the `devctl` command and the tests.
//!
//! The table schema lives once, in `template.yaml` (`Resources.UsersTable`); it is
//! embedded at compile time and turned into a `CreateTable` request here, so the local
//! stack, the tests and the deployed stack cannot drift apart.

pub mod policy;

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use serde::Deserialize;

/// The deployment template, the single source of the table schema.
pub const TEMPLATE: &str = include_str!("../../../template.yaml");

/// The logical id of the table in the template.
pub const TABLE_RESOURCE: &str = "UsersTable";

/// A failure of a local operation.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// The template does not hold a readable table definition.
    #[error("template.yaml: {0}")]
    Template(String),
    /// A DynamoDB call failed.
    #[error("DynamoDB: {0}")]
    Dynamo(String),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttrDef {
    attribute_name: String,
    attribute_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyDef {
    attribute_name: String,
    key_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProjectionDef {
    projection_type: String,
    #[serde(default)]
    non_key_attributes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IndexDef {
    index_name: String,
    key_schema: Vec<KeyDef>,
    projection: ProjectionDef,
}

/// The `Properties` of the table resource this code understands.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TableProps {
    attribute_definitions: Vec<AttrDef>,
    key_schema: Vec<KeyDef>,
    #[serde(default)]
    global_secondary_indexes: Vec<IndexDef>,
}

/// The table schema read from the template.
#[derive(Debug)]
pub struct TableDefinition {
    attributes: Vec<AttributeDefinition>,
    keys: Vec<KeySchemaElement>,
    indexes: Vec<GlobalSecondaryIndex>,
}

impl TableDefinition {
    /// Reads `Resources.UsersTable.Properties` of [`TEMPLATE`].
    pub fn from_template() -> Result<Self, DevError> {
        Self::parse(TEMPLATE)
    }

    /// Reads the table of a template text.
    pub fn parse(template: &str) -> Result<Self, DevError> {
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(template).map_err(|e| DevError::Template(e.to_string()))?;
        let props = doc
            .get("Resources")
            .and_then(|r| r.get(TABLE_RESOURCE))
            .and_then(|t| t.get("Properties"))
            .ok_or_else(|| {
                DevError::Template(format!("no Resources.{TABLE_RESOURCE}.Properties"))
            })?;
        let props: TableProps = serde_yaml_ng::from_value(props.clone())
            .map_err(|e| DevError::Template(e.to_string()))?;
        let build = |e: aws_sdk_dynamodb::error::BuildError| DevError::Template(e.to_string());
        let keys = |ks: &[KeyDef]| -> Result<Vec<KeySchemaElement>, DevError> {
            ks.iter()
                .map(|k| {
                    KeySchemaElement::builder()
                        .attribute_name(&k.attribute_name)
                        .key_type(KeyType::from(k.key_type.as_str()))
                        .build()
                        .map_err(build)
                })
                .collect()
        };
        let attributes = props
            .attribute_definitions
            .iter()
            .map(|a| {
                AttributeDefinition::builder()
                    .attribute_name(&a.attribute_name)
                    .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                    .build()
                    .map_err(build)
            })
            .collect::<Result<_, _>>()?;
        let indexes = props
            .global_secondary_indexes
            .iter()
            .map(|i| {
                let projection = Projection::builder()
                    .projection_type(ProjectionType::from(i.projection.projection_type.as_str()))
                    .set_non_key_attributes(
                        (!i.projection.non_key_attributes.is_empty())
                            .then(|| i.projection.non_key_attributes.clone()),
                    )
                    .build();
                GlobalSecondaryIndex::builder()
                    .index_name(&i.index_name)
                    .set_key_schema(Some(keys(&i.key_schema)?))
                    .projection(projection)
                    .build()
                    .map_err(build)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            attributes,
            keys: keys(&props.key_schema)?,
            indexes,
        })
    }

    /// Names of the global secondary indexes.
    pub fn index_names(&self) -> Vec<&str> {
        self.indexes.iter().map(|i| i.index_name()).collect()
    }

    /// Creates `table` (on-demand billing) unless it exists; waits until it is active.
    /// Returns whether it was created.
    pub async fn create(&self, client: &Client, table: &str) -> Result<bool, DevError> {
        let created = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(self.attributes.clone()))
            .set_key_schema(Some(self.keys.clone()))
            .set_global_secondary_indexes((!self.indexes.is_empty()).then(|| self.indexes.clone()))
            .send()
            .await;
        let created = match created {
            Ok(_) => true,
            Err(e) => {
                let exists = e
                    .as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception());
                if !exists {
                    return Err(DevError::Dynamo(format!(
                        "{:?}",
                        aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                    )));
                }
                false
            }
        };
        wait_active(client, table).await?;
        Ok(created)
    }
}

async fn wait_active(client: &Client, table: &str) -> Result<(), DevError> {
    for _ in 0..100 {
        let out = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| {
                DevError::Dynamo(format!(
                    "{:?}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                ))
            })?;
        let active = out
            .table()
            .and_then(|t| t.table_status())
            .is_some_and(|s| *s == aws_sdk_dynamodb::types::TableStatus::Active);
        if active {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(DevError::Dynamo(format!(
        "table {table} did not become active"
    )))
}

/// A DynamoDB client from the standard AWS environment (`AWS_ENDPOINT_URL_DYNAMODB`,
/// `AWS_REGION`, credentials).
pub async fn client_from_env() -> Client {
    let sdk = aws_config::load_from_env().await;
    Client::new(&sdk)
}

/// Waits until DynamoDB answers (DynamoDB Local takes a few seconds to start).
pub async fn wait_for_dynamodb(client: &Client, timeout: Duration) -> Result<(), DevError> {
    let until = std::time::Instant::now() + timeout;
    loop {
        match client.list_tables().limit(1).send().await {
            Ok(_) => return Ok(()),
            Err(e) if std::time::Instant::now() >= until => {
                return Err(DevError::Dynamo(format!(
                    "not reachable after {timeout:?}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                )));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_table_is_understood() {
        let def = TableDefinition::from_template().unwrap();
        assert_eq!(def.keys.len(), 1);
        assert_eq!(def.keys[0].attribute_name(), "pk");
        assert_eq!(def.index_names(), vec!["email-index", "deleted-index"]);
        // Every key attribute of the table and its indexes is defined, and nothing else
        // (CloudFormation and DynamoDB both reject unused attribute definitions).
        let mut used: Vec<&str> = def.keys.iter().map(|k| k.attribute_name()).collect();
        for i in &def.indexes {
            used.extend(i.key_schema().iter().map(|k| k.attribute_name()));
        }
        used.sort();
        used.dedup();
        let mut defined: Vec<&str> = def.attributes.iter().map(|a| a.attribute_name()).collect();
        defined.sort();
        assert_eq!(used, defined);
    }

    #[test]
    fn a_template_without_the_table_is_refused() {
        let e = TableDefinition::parse("Resources: {}").unwrap_err();
        assert!(e.to_string().contains("UsersTable"), "{e}");
    }
}
