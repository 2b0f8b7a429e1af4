# The two commands of the README, and helpers. Every target sets the host up first (idempotent).
VENV := .venv
ARGS ?=

.PHONY: setup run test lint doctor

setup:
	./scripts/setup-host

run: setup  ## the main job: the conformance suites on the default target, reports in reports/
	$(VENV)/bin/rvconform run $(ARGS)

test: setup lint  ## the project's own tests: unit, then integration on the real engine, registry and QEMU
	$(VENV)/bin/pytest tests $(ARGS)

lint:
	$(VENV)/bin/ruff check .

doctor:
	$(VENV)/bin/rvconform doctor
