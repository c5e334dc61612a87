use lambda_runtime::{Error, run, service_fn};
use shared::app::App;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = App::from_env().await?;
    run(service_fn(|event| cleanup_users::handle(&app, event))).await
}
