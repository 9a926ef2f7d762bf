# hotline — the two commands a newcomer runs are `make demo` and `make test`.
SHELL := /bin/bash
UV ?= python3 -m uv
STACK := deploy/local/stack.sh
MARK := .local/test-started

.PHONY: install up down status test test-fast lint typecheck check demo demo-down web-test help contracts

WEB := services/console/web
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

install: $(WEB)/dist/index.html /usr/bin/chromium .local/bin/helm ## the Python workspace, the console's web app, Chromium, Helm
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --frozen --quiet

$(WEB)/node_modules/.installed: $(WEB)/package-lock.json
	@cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# typecheck, build, and the size budget (250 KB gzipped initial JavaScript)
$(WEB)/dist/index.html: $(WEB)/node_modules/.installed $(WEB)/index.html $(WEB)/vite.config.ts $(shell find $(WEB)/src -type f 2>/dev/null)
	@cd $(WEB) && npm run --silent build

# Helm for the chart's tests (deploy/helm/hotline), built from the Go module proxy; the ldflags
# give it its version and the Kubernetes version its client libraries speak (else it says 1.20)
HELM_VERSION := v3.22.0
HELM_K8S_MINOR := 37
HELM_LDFLAGS := -s -w -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	$(foreach p,pkg/chartutil pkg/lint/rules,-X helm.sh/helm/v3/$(p).k8sVersionMajor=1 -X helm.sh/helm/v3/$(p).k8sVersionMinor=$(HELM_K8S_MINOR))
.local/bin/helm:
	@GOBIN=$(CURDIR)/.local/bin go install -trimpath -ldflags '$(HELM_LDFLAGS)' helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

/usr/bin/chromium: ## Debian's Chromium, for the browser tests (Playwright cannot download one here)
	@$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null

web-test: $(WEB)/node_modules/.installed ## the web app's component tests (Vitest)
	@cd $(WEB) && npx vitest run --silent

up: install ## start Kafka + the MongoDB-wire database (nothing when they already answer)
	@$(STACK) up
	@$(UV) run --frozen python -m hotline_shared.stackcheck

down: ## stop what `make up` started
	@$(STACK) down

status:
	@$(STACK) status

lint:
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .

typecheck:
	@$(UV) run --frozen mypy shared/hotline_shared services deploy/cli
	@cd $(WEB) && npm run --silent typecheck

check: lint typecheck

test: install web-test ## every test; starts the stack when it is not up and stops what it started
	@$(MAKE) --no-print-directory pytest-on-stack PYTEST_ARGS="$(PYTEST_ARGS)" BROWSER=1

test-fast: install ## unit + contract + integration, without the slow (e2e, fault, volume) tests
	@$(MAKE) --no-print-directory pytest-on-stack PYTEST_ARGS='-m "not slow" $(PYTEST_ARGS)'

pytest-on-stack:
	@mkdir -p .local; rm -f $(MARK)
	@$(STACK) up --mark $(MARK)
	@rc=0; \
	$(UV) run --frozen python -m hotline_shared.stackcheck && \
	$(UV) run --frozen pytest $(PYTEST_ARGS) || rc=$$?; \
	[ $$rc -eq 5 ] && { echo "pytest collected no tests"; rc=1; }; \
	if [ -n "$(BROWSER)" ]; then $(UV) run --frozen pytest tests/browser || rc=$$?; fi; \
	$(STACK) down --only $(MARK); exit $$rc

demo: up ## the main job: stack, services, simulated traffic, report; services stay up
	@$(UV) run --frozen hotline services up --demo
	@$(UV) run --frozen hotline simulate --contacts $${CONTACTS:-300} --rate $${RATE:-10}
	@if [ -n "$${STOP:-}" ]; then $(UV) run --frozen hotline services down; $(STACK) down; \
	else echo "services left running: intake :8001, sessions :8002, followup :8003, console http://localhost:8004 (make demo-down stops them)"; fi

contracts: install ## regenerate docs/asyncapi and docs/events from the code (a test fails when they are stale)
	@$(UV) run --frozen python deploy/contracts.py

demo-down: ## stop what `make demo` started
	@$(UV) run --frozen hotline services down
	@$(STACK) down

help: ## list the targets and what each does
	@awk 'BEGIN { FS = ":.*## " } /^[^ \t#.][^=]*:.*## / { printf "  %-20s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
