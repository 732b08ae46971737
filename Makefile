# The two commands of README: `make run` and `make test`. Both install what they need into .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2

.PHONY: run test install lint format messages clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

# The portal on embedded defaults: SQLite and a filesystem Celery broker under var/, demo data,
# the web server and one Celery worker (with the beat schedule: sweeper and purge). DATABASE_URL / CELERY_BROKER_URL override the defaults.
run: install
	@set -e; export DEBUG=$${DEBUG:-true}; \
	$(BIN)/python manage.py migrate --noinput; \
	$(BIN)/python manage.py demo --url http://$(HOST):$(PORT)/; \
	$(BIN)/python manage.py sandbox_seed; \
	$(BIN)/celery -A portal worker --beat --schedule var/celerybeat-schedule --loglevel=INFO \
		--concurrency=$(WORKERS) & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# The whole suite. Uses DATABASE_URL / CELERY_BROKER_URL when set (CI: PostgreSQL and Redis).
test: install
	DEBUG=true $(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=true $(BIN)/mypy .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Refresh the translation catalogues after changing user-facing strings, then translate locale/ru.
messages: install
	DEBUG=true $(BIN)/python manage.py makemessages -l ru -l en --no-obsolete --ignore '.venv/*' --ignore 'var/*' --ignore 'tests/*'
	DEBUG=true $(BIN)/python manage.py compilemessages --ignore '.venv/*'

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

# Traffic benchmark (bench/README.md): PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379, loopback
# only; prints tables, writes var/bench/traffic-<date>.json. BENCH_ARGS="--quick" for a smoke run.
.PHONY: bench
bench: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	$(BIN)/python bench/traffic.py $(BENCH_ARGS)
