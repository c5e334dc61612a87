# The two commands a new user needs are `make dev` and `make test` (see README.md).
.PHONY: dev test bench lint token build fuzz clean

## Run the local stack: DynamoDB Local, the table, an admin token, cargo lambda watch.
dev:
	bash scripts/dev.sh

## Run every test (what CI runs): lint, template checks, unit, integration, end-to-end.
test:
	bash scripts/test.sh

## Benchmark of the five functions against DynamoDB Local (release builds); report in target/bench/report.md (recorded in docs/benchmark.md). ARGS="..." passes bench options.
bench:
	bash scripts/bench.sh $(ARGS)

## Formatting, clippy, template and OpenAPI document checks only.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	bash -c 'source scripts/lib.sh && ensure_python_tools && cfn-lint template.yaml && SAM_CLI_TELEMETRY=0 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local sam validate --template-file template.yaml --region us-east-1 --lint && openapi-spec-validator docs/openapi.yaml'

## Print an admin token for the local stack (ROLE=viewer for a non-admin one).
token:
	@AUTH_JWT_SECRET=$${AUTH_JWT_SECRET:-local-dev-secret-not-for-production} cargo run --quiet -p devctl -- token --role $${ROLE:-admin}

## Release build of every function for Lambda (arm64), as `sam build` does it.
build:
	bash -c 'source scripts/lib.sh && ensure_python_tools && cargo lambda build --release --arm64 \
	  -p upsert-users -p delete-users -p delete-or-restore-users -p delete-users-by-filter -p cleanup-users'

## Fuzz the request parsers with cargo fuzz (libFuzzer): TARGET=filter_query|upsert_body|delete_body|restore_json|restore_xml|cleanup_input (default: each in turn), SECONDS per target (default 60).
fuzz:
	bash scripts/fuzz.sh "$(TARGET)" "$(or $(SECONDS),60)"

clean:
	cargo clean
	rm -rf fuzz/target
	rm -rf .local
