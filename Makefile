# Certplane — the two commands of the README are `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test test-unit test-integration bench-store bench-http bench-auth bench-dcv bench-crl bench-ocsp bench-issue bench-hostile bench-console bench-acme bench-scep bench-est clean

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) || { echo "Could not create a virtualenv with $(PYTHON). On Debian/Ubuntu: sudo apt-get install python3.11-venv"; exit 1; }

# the stamps re-install when pyproject.toml changes
$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	@touch $@

$(VENV)/.test-installed: pyproject.toml $(VENV)/.run-installed
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

$(VENV)/.bench-installed: pyproject.toml $(VENV)/.test-installed
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	@touch $@

## run: Certplane in embedded mode (one process, SQLite under var/, no servers needed); EST's TLS listener on 8443
##      unless CERTPLANE_EST_PORT says otherwise
run: export CERTPLANE_EST_PORT ?= 8443
run: $(VENV)/.run-installed
	$(BIN)/certplane run

## test: every tier; the integration tier runs when RabbitMQ and PostgreSQL answer on localhost
##       (CERTPLANE_REQUIRE_INTEGRATION=1 turns "not reachable" into a failure, as CI does)
test: $(VENV)/.test-installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: $(VENV)/.test-installed
	$(BIN)/python -m pytest tests/unit tests/contract tests/service $(PYTEST_ARGS)

test-integration: $(VENV)/.test-installed
	CERTPLANE_REQUIRE_INTEGRATION=1 $(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

## bench-store: event appends/s on PostgreSQL, ours vs the eventsourcing library's recorder (ratio printed)
bench-store: $(VENV)/.bench-installed
	$(BIN)/python bench/store.py

## bench-http: POST /api/v1/organizations p50/p99 at 1 and 20 clients, distributed mode
bench-http: $(VENV)/.bench-installed
	$(BIN)/python bench/http_latency.py

## bench-auth: GET /api/v1/organizations req/s authenticated (session, API key, RAO) vs authentication bypassed, embedded mode
bench-auth: $(VENV)/.bench-installed
	$(BIN)/python bench/auth.py

## bench-dcv: DNS DCV checks/s vs raw dnspython, and may_issue answers/s from the read model (SQLite, PostgreSQL if it answers) vs the 5,000/s target
bench-dcv: $(VENV)/.bench-installed
	$(BIN)/python bench/dcv.py

## bench-crl: CRL of 100k and 1M entries (the ca's whole publish: read from SQLite / PostgreSQL, lint, build, sign, store; P-256 and RSA-3072 CA) vs openssl ca -gencrl, targets < 2 s / < 10 s
bench-crl: $(VENV)/.bench-installed
	$(BIN)/python bench/crl.py

## bench-ocsp: POST /ocsp responses/s at 1 and 8 clients, embedded mode, vs openssl ocsp on the same CA and index (ratio printed)
bench-ocsp: $(VENV)/.bench-installed
	$(BIN)/python bench/ocsp.py

## bench-issue: CSR -> issued certificate/s through POST /api/v1/ssl at 1, 4, 16 clients, distributed mode, vs in-process lint+sign on all cores (target >= 50%) and cfssl serve
bench-issue: $(VENV)/.bench-installed
	$(BIN)/python bench/issue.py

## bench-hostile: a normal client's /healthz and GET /api/v1/organizations p50/p99 with no attack, then while 200 slowloris and 20 slow-body connections are held (embedded, loopback; targets p99 < 50 ms, ratio <= 2x)
bench-hostile: $(VENV)/.bench-installed
	$(BIN)/python bench/hostile.py

## bench-console: the SSL inventory with 100,000 certificates seeded through events: GET /api/v1/ssl p50/p95 (first page, filters, sorts) and the console's /#/ssl in Chromium (navigation -> rows), embedded mode, target < 1 s
bench-console: $(VENV)/.bench-installed
	$(BIN)/python bench/console.py

## bench-acme: ACME certificates/s with the Python acme library at 1 and 4 client processes against Certplane (distributed, lint on, names authorized by DCV) and Debian's pebble 2.4 (always valid), vs in-process lint+sign (a); targets >= 50% of (a) at 4 clients, p95 < 300 ms at 1 client
bench-acme: $(VENV)/.bench-installed
	$(BIN)/python bench/acme.py

## bench-scep: SCEP enrollments/s with parallel scepclient processes (1, 4, 16) against Certplane (distributed) and micromdm's scepserver 2.1.0 in the same run, duplicate serials and failures counted for both; targets >= 1.0x scepserver at 1 client, 0 duplicates and 0 failures at 4 and 16
bench-scep: $(VENV)/.bench-installed
	$(BIN)/python bench/scep.py

## bench-est: EST simpleenroll/s over Certplane's EST TLS listener (distributed, HTTP Basic) at 1 and 4 clients, beside the in-process lint+sign limit (a)
bench-est: $(VENV)/.bench-installed
	$(BIN)/python bench/est.py

clean:
	rm -rf $(VENV) var .pytest_cache
