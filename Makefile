# The two commands of the README:
#   make run    builds and runs Switchyard on its embedded default (SQLite + offline demo provider)
#   make test   installs the test prerequisites and runs every test (Rust, and the official
#               OpenAI Python SDK against the real server), on SQLite and PostgreSQL

VENV := .venv
SDK_REQUIREMENTS := crates/switchyard/tests/sdk/requirements.txt

.PHONY: run test lint bench

run:
	cargo run --release -p switchyard -- serve

test: $(VENV)/.ready
	SWITCHYARD_TEST_PYTHON=$(CURDIR)/$(VENV)/bin/python cargo test --workspace --locked

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

bench:
	bash bench/run.sh

# The Python test client (official openai SDK, pytest) lives in a virtualenv of its own.
$(VENV)/.ready: $(SDK_REQUIREMENTS)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(SDK_REQUIREMENTS)
	touch $@
