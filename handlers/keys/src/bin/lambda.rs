//! `lambda-keys`: this crate's routes as one AWS Lambda function (API Gateway HTTP API, payload
//! format 2.0). Configured like `miroir`, from `MIROIR_CONFIG` and the `MIROIR_*` variables.

fn main() -> std::process::ExitCode {
    miroir_http::lambda::run("lambda-keys", miroir_handler_keys::router)
}
