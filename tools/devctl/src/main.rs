//! `devctl`: local operations for the dev stack and the tests.
//!
//! ```text
//! devctl wait [--timeout-secs N]              wait until DynamoDB answers
//! devctl create-table [--table NAME]          create the table from template.yaml (idempotent)
//! devctl token [--role R] [--sub S] [--ttl-hours H | --ttl-days D]
//!                                             print an HS256 token signed with AUTH_JWT_SECRET
//!                                             (identity providers' "Secret Token": --sub entra
//!                                             --ttl-days 365)
//! devctl time-profile [--id UUID] [--name N]  add a time profile, print its id
//! ```
//! The table defaults to `TABLE_NAME`; DynamoDB settings come from the AWS environment.

use std::process::ExitCode;
use std::time::Duration;

use devctl::{TableDefinition, client_from_env, wait_for_dynamodb};
use shared::store::records::TimeProfileRecord;
use uuid::Uuid;

const USAGE: &str = "usage: devctl <wait|create-table|token|time-profile> [--option value ...]";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("devctl: {e}");
            ExitCode::FAILURE
        }
    }
}

fn opt<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn table(args: &[String]) -> Result<String, String> {
    opt(args, "--table")
        .map(str::to_owned)
        .or_else(|| std::env::var("TABLE_NAME").ok())
        .ok_or_else(|| "set TABLE_NAME or pass --table".to_owned())
}

async fn run(args: &[String]) -> Result<(), String> {
    let command = args.first().map(String::as_str).ok_or(USAGE)?;
    match command {
        "wait" => {
            let secs = opt(args, "--timeout-secs")
                .map(str::parse)
                .transpose()
                .map_err(|e| format!("--timeout-secs: {e}"))?
                .unwrap_or(30);
            let client = client_from_env().await;
            wait_for_dynamodb(&client, Duration::from_secs(secs))
                .await
                .map_err(|e| e.to_string())
        }
        "create-table" => {
            let table = table(args)?;
            let client = client_from_env().await;
            let def = TableDefinition::from_template().map_err(|e| e.to_string())?;
            let created = def
                .create(&client, &table)
                .await
                .map_err(|e| e.to_string())?;
            let what = if created { "created" } else { "already exists" };
            println!("table {table} {what}");
            Ok(())
        }
        "token" => {
            let secret = std::env::var("AUTH_JWT_SECRET")
                .map_err(|_| "set AUTH_JWT_SECRET (the secret the functions verify with)")?;
            let role = opt(args, "--role").unwrap_or("admin");
            let sub = opt(args, "--sub").unwrap_or("dev-admin");
            let number = |name: &str, max: u64| -> Result<Option<u64>, String> {
                opt(args, name)
                    .map(|v| match v.parse::<u64>() {
                        Ok(n) if (1..=max).contains(&n) => Ok(n),
                        _ => Err(format!("{name}: expected a whole number from 1 to {max}")),
                    })
                    .transpose()
            };
            // At most ten years: a token that outlives its secret's rotation is a risk.
            let hours = match (number("--ttl-hours", 87_600)?, number("--ttl-days", 3_650)?) {
                (Some(_), Some(_)) => return Err("give --ttl-hours or --ttl-days, not both".into()),
                (Some(h), None) => h,
                (None, Some(d)) => d * 24,
                (None, None) => 12,
            };
            let role = (!role.is_empty()).then_some(role);
            println!(
                "{}",
                shared::auth::mint_hs256(&secret, sub, role, Duration::from_secs(hours * 3600))
            );
            Ok(())
        }
        "time-profile" => {
            let table = table(args)?;
            let id = match opt(args, "--id") {
                Some(s) => Uuid::try_parse(s).map_err(|e| format!("--id: {e}"))?,
                None => Uuid::new_v4(),
            };
            let name = opt(args, "--name").unwrap_or("dev profile");
            let item = TimeProfileRecord::new(id, name)
                .to_item()
                .map_err(|e| e.to_string())?;
            client_from_env()
                .await
                .put_item()
                .table_name(&table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(|e| format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&e)))?;
            println!("{id}");
            Ok(())
        }
        _ => Err(USAGE.to_owned()),
    }
}
