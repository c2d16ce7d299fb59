# One place for the project's routine commands (CI runs `.ci/run`, which installs and calls these checks).
.PHONY: install web lint typecheck test test-fast bench

install:
	python3 -m pip install -e '.[test]'

web:
	cd web && npm ci && npm run build

lint:
	python3 -m ruff check .
	cd web && npx tsc --noEmit

typecheck:
	python3 -m mypy

test:
	python3 -m pytest -q

test-fast:  # everything but the browser journeys, fuzzing, real-process crashes and benchmark smokes
	python3 -m pytest -q -m "not slow"

bench:
	python3 -m loadtests.bench
