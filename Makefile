# sandstep - see README.md. `make test` is what CI runs; `make help` lists the rest.
SHELL := /bin/bash
GO ?= go
PKGS := ./...

# The Lambda functions: functions/<name> builds the bootstrap of the
# template's <Name>Function (create -> CreateFunction).
FUNCTIONS ?= create execute status delete reaper github
FUNCTIONS_DIR ?= functions
BIN_DIR ?= bin
# Budget for one bootstrap (docs/architecture.md, "Performance budgets").
MAX_BOOTSTRAP_BYTES ?= 12000000

# What `make build` passes to go build; `make sam-build` passes the same
# through GOFLAGS, which SAM's go1.x builder hands on to go build
# (-trimpath comes from the template's BuildProperties: TrimGoPath).
LAMBDA_ENV := GOOS=linux GOARCH=arm64 CGO_ENABLED=0
LAMBDA_FLAGS := -trimpath -ldflags='-s -w' -tags lambda.norpc
SAM_GOFLAGS := -tags=lambda.norpc '-ldflags=-s -w'

# `make invoke-<name>` sends this event; override with EVENT=path.json.
EVENT ?= $(firstword $(wildcard events/$*-direct.json) events/$*-api.json)
# Optional: a JSON file of environment overrides for sam local invoke.
ENV_VARS ?=

# logical_id(create) = CreateFunction
logical_id = $(shell printf '%s' '$(1)' | awk '{print toupper(substr($$0,1,1)) substr($$0,2) "Function"}')
# require(tool,how to get it): fail with a clear message when tool is missing.
require = @command -v $(1) >/dev/null 2>&1 || { echo "make $@: needs '$(1)' ($(2)), which is not installed" >&2; exit 1; }
SAM_HINT := AWS SAM CLI, https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@echo "sandstep make targets:"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_%-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "Variables: PKGS=$(PKGS) FUNCTIONS='$(FUNCTIONS)' EVENT=events/<name>-direct.json|-api.json ENV_VARS= FUZZTIME=$(FUZZTIME)"

# -timeout: infra/local starts its stacks one test after another, several
# minutes on a busy 2-core machine, past go test's default of 10 (and
# internal/service under the race detector comes near it). The
# packages where work runs beside other work run once more under the race
# detector (RACE_PKGS).
RACE_PKGS ?= ./internal/service/ ./internal/store/ ./internal/app/ ./internal/daytonaprovider/
.PHONY: test
test: sfnlocal-deps webhook-examples ## Run every test (what CI runs): Go, plus Node for the local Step Functions
	$(GO) test -count=1 -timeout 30m $(PKGS)
	$(GO) test -count=1 -timeout 30m -race $(RACE_PKGS)

# The local Step Functions' runner (internal/sfnlocal/runner) runs ASL in
# Node: its npm packages come from the committed lockfile, reinstalled when
# the lockfile changes.
SFN_RUNNER := internal/sfnlocal/runner
.PHONY: sfnlocal-deps
sfnlocal-deps: $(SFN_RUNNER)/node_modules/.package-lock.json ## Install the local Step Functions runner's npm packages (npm ci)

$(SFN_RUNNER)/node_modules/.package-lock.json: $(SFN_RUNNER)/package.json $(SFN_RUNNER)/package-lock.json
	$(call require,npm,Node.js 20 or later with npm)
	cd $(SFN_RUNNER) && npm ci --no-audit --no-fund
	@touch $@

# GitHub's example webhook payloads, internal/webhook's test data, from the
# committed lockfile.
WEBHOOK_DATA := internal/webhook/testdata
.PHONY: webhook-examples
webhook-examples: $(WEBHOOK_DATA)/node_modules/.package-lock.json ## Install GitHub's example webhook payloads for the tests (npm ci)

$(WEBHOOK_DATA)/node_modules/.package-lock.json: $(WEBHOOK_DATA)/package.json $(WEBHOOK_DATA)/package-lock.json
	$(call require,npm,Node.js 20 or later with npm)
	cd $(WEBHOOK_DATA) && npm ci --no-audit --no-fund
	@touch $@

# Benchmarks (never timed assertions): medians over BENCH_COUNT runs, to
# compare side by side with benchstat. First the handler against the bare
# Daytona client, both under AWS's and Daytona's latencies (internal/app's
# BenchmarkLifecycle), with each median and ratio printed
# (infra/benchratio); then the store's and the client's own benchmarks.
BENCH_COUNT ?= 6
.PHONY: bench
bench: ## Run the benchmarks into bench.txt; print handler vs bare Daytona client medians and ratios under injected latency
	set -o pipefail; $(GO) test -run '^$$' -bench BenchmarkLifecycle -count $(BENCH_COUNT) ./internal/app/ | tee bench.txt
	$(GO) run ./infra/benchratio < bench.txt
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchtime 200x -count $(BENCH_COUNT) ./internal/store/ ./internal/daytona/ | tee -a bench.txt
	@echo "compare with: go run golang.org/x/perf/cmd/benchstat@latest bench.txt"

# Cold starts under the Lambda Runtime Interface Emulator (loopback only):
# COLDSTARTS fresh starts of each function to its first answer, beside a bare
# aws-lambda-go bootstrap in the same run; medians and ratios, then the
# longest package inits (GODEBUG=inittrace=1). Sizes: make build.
COLDSTARTS ?= 10
.PHONY: coldstart
coldstart: ## Cold-start medians per function vs a bare aws-lambda-go bootstrap, under the Lambda emulator (COLDSTARTS=10)
	$(GO) test -run '^$$' -bench '^BenchmarkColdStart$$' -benchtime $(COLDSTARTS)x -v ./$(FUNCTIONS_DIR)/lambdatest/

# Fuzzing: every func Fuzz* of the repository's tests, found rather than
# listed, each for FUZZTIME (go test -fuzz takes one target per run). Their
# seed corpora (f.Add, testdata/fuzz) run in every plain go test; a failure
# found here is written to the package's testdata/fuzz, to commit as a seed.
FUZZTIME ?= 15s
.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 15s), e.g. make fuzz FUZZTIME=60s
	@set -e; for dir in $$(grep -rl --include='*_test.go' --exclude-dir=node_modules '^func Fuzz' internal infra | xargs -n1 dirname | sort -u); do \
		list=$$($(GO) test -list '^Fuzz' ./$$dir) || { echo "$$list"; echo "make fuzz: cannot list the fuzz targets of ./$$dir" >&2; exit 1; }; \
		for t in $$(echo "$$list" | grep '^Fuzz'); do \
			echo "$(GO) test -run '^$$' -fuzz '^$$t\$$' -fuzztime $(FUZZTIME) ./$$dir"; \
			$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) ./$$dir; \
		done; \
	done

# The local stack (infra/local): one process, everything on 127.0.0.1.
# Configuration from the environment by the functions' own names, e.g.
# `DEFAULT_USER_QUOTA=3 make local`; LOCAL_FLAGS='-api-port=4000 -data-dir=/tmp/x' etc.
.PHONY: local
local: sfnlocal-deps ## Run sandstep locally: API :3000, Lambda :3001, DynamoDB :8000, AWS :4566, Daytona :3003, SFN :8083, GitHub :3005 (Ctrl-C stops)
	$(GO) run ./infra/local/cmd/sandstep-local $(LOCAL_FLAGS)

# Every sh block of docs/runbooks, run against a local stack of its own
# (infra/local's TestRunbooks; make test runs it too).
.PHONY: docs-check
docs-check: sfnlocal-deps ## Run the runbooks' commands (docs/runbooks) against a local stack, so they cannot rot
	$(GO) test -count=1 -run '^TestRunbooks$$' -v ./infra/local/

.PHONY: demo
demo: sfnlocal-deps ## Walk through the API against `make local` (or a stack it starts itself)
	$(GO) run ./infra/local/cmd/sandstep-demo

# `make load`: the local stack under load (infra/local/cmd/sandstep-load),
# on free ports, bounded by LOAD_TIMEOUT; README's "make load" says what it
# checks and how it splits the time. Empty variables take its defaults.
LOAD_VARS := LOAD_N LOAD_USERS LOAD_QUOTA LOAD_LATENCY LOAD_INFLIGHT LOAD_TASKS LOAD_TIMEOUT LOAD_CREATE_RATE
.PHONY: load
load: sfnlocal-deps ## Load the local stack (LOAD_N=1000 creates, LOAD_USERS=50, LOAD_QUOTA=5, LOAD_LATENCY=110ms, LOAD_INFLIGHT=100, LOAD_TASKS=20) and check it stays exact
	$(strip $(foreach v,$(LOAD_VARS),$(if $($(v)),$(v)='$($(v))')) $(GO) run ./infra/local/cmd/sandstep-load)

.PHONY: build
build: $(FUNCTIONS:%=build-%) ## Build each function's arm64 bootstrap into bin/<name>/bootstrap

.PHONY: build-%
build-%: ## Build one function's bootstrap, e.g. build-create
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(BIN_DIR)/$*/bootstrap ./$(FUNCTIONS_DIR)/$*
	@size=$$(wc -c < $(BIN_DIR)/$*/bootstrap | tr -d ' '); \
	echo "$(BIN_DIR)/$*/bootstrap: $$size bytes"; \
	if [ "$$size" -gt $(MAX_BOOTSTRAP_BYTES) ]; then \
		echo "make $@: $(BIN_DIR)/$*/bootstrap is $$size bytes, over the $(MAX_BOOTSTRAP_BYTES) budget" >&2; exit 1; \
	fi

.PHONY: sam-build
sam-build: ## sam build into .aws-sam/build (needs the sam CLI)
	$(call require,sam,$(SAM_HINT))
	GOFLAGS="$$GOFLAGS $(SAM_GOFLAGS)" CGO_ENABLED=0 sam build

.PHONY: lint
lint: ## gofmt, go vet, staticcheck, and go.mod/go.sum tidiness (changes nothing)
	@out=$$(find . \( -path ./.git -o -path ./node_modules -o -path ./$(SFN_RUNNER)/node_modules -o -path ./.aws-sam -o -path ./$(BIN_DIR) \) -prune \
		-o -name '*.go' -print | xargs gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt -l reports files that need formatting:" >&2; echo "$$out" >&2; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)
	@$(GO) mod tidy -diff || { echo "make lint: go.mod/go.sum are not tidy (the diff above is what 'go mod tidy' would change)" >&2; exit 1; }

.PHONY: validate
validate: ## Lint template.yaml (sam validate --lint, or cfn-lint), then translate it with the SAM translator and lint the CloudFormation it becomes
	@if command -v sam >/dev/null 2>&1; then \
		echo "sam validate --lint"; sam validate --lint; \
	elif command -v cfn-lint >/dev/null 2>&1; then \
		echo "sam is not installed; running cfn-lint template.yaml (what sam validate --lint runs)"; cfn-lint template.yaml; \
	else \
		echo "make validate: needs 'sam' ($(SAM_HINT)) or 'cfn-lint' (pip install cfn-lint)" >&2; exit 1; \
	fi
	@# cfn-lint installs the SAM translator (aws-sam-translator) it uses.
	@out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && \
		echo "python3 infra/samtransform/transform.py template.yaml (SAM translator, offline)" && \
		python3 infra/samtransform/transform.py template.yaml "$$out/template.json" && \
		echo "cfn-lint on the translated template" && cfn-lint "$$out/template.json"

.PHONY: invoke-%
invoke-%: ## sam local invoke <Name>Function with EVENT (default events/<name>-direct.json, else -api.json)
	$(call require,sam,$(SAM_HINT))
	$(if $(filter $*,$(FUNCTIONS)),,$(error make invoke-$*: unknown function '$*'; one of: $(FUNCTIONS)))
	@test -f "$(EVENT)" || { echo "make $@: no event file '$(EVENT)'; set EVENT=path/to/event.json" >&2; exit 1; }
	GOFLAGS="$$GOFLAGS $(SAM_GOFLAGS)" CGO_ENABLED=0 sam build
	sam local invoke $(call logical_id,$*) --event "$(EVENT)" $(if $(ENV_VARS),--env-vars "$(ENV_VARS)")

.PHONY: deploy
deploy: sam-build ## sam build, then sam deploy with samconfig.toml (shows the change set first)
	sam deploy

.PHONY: deploy-staging
deploy-staging: sam-build ## sam build, then sam deploy --config-env staging (samconfig.toml's staging stack; no change-set prompt)
	sam deploy --config-env staging

.PHONY: deploy-guided
deploy-guided: sam-build ## sam build, then sam deploy --guided (first deploy; can save to samconfig.toml)
	sam deploy --guided

# The drain switch (README, "Drain and resume"): the SSM parameter the
# functions read at most every 30 s. AWS_ENDPOINT_URL points the CLI at
# another endpoint, e.g. `make local`'s (http://127.0.0.1:4566), which
# takes any credentials. The AWS CLI v2 of Debian's awscli package may
# sit behind an older v1 on PATH, so /usr/bin/aws comes first.
DRAIN_PARAMETER ?= /sandstep/drain
AWS_CLI ?= $(if $(wildcard /usr/bin/aws),/usr/bin/aws,aws)
# drain_put(value): set the switch to value.
drain_put = $(if $(AWS_ENDPOINT_URL),AWS_ACCESS_KEY_ID="$${AWS_ACCESS_KEY_ID:-local}" AWS_SECRET_ACCESS_KEY="$${AWS_SECRET_ACCESS_KEY:-local}" AWS_REGION="$${AWS_REGION:-us-east-1}") \
	$(AWS_CLI) ssm put-parameter --name "$(DRAIN_PARAMETER)" --type String --value $(1) --overwrite \
	$(if $(AWS_ENDPOINT_URL),--endpoint-url "$(AWS_ENDPOINT_URL)") --no-cli-pager --output text

.PHONY: drain
drain: ## Drain sandstep (DRAIN_PARAMETER=true): new sandboxes and tasks get 503, issues' tasks wait; AWS_ENDPOINT_URL= for make local
	$(call require,$(AWS_CLI),the AWS CLI v2)
	$(call drain_put,true)
	@echo "drained: every instance stops admitting within 30 s; make resume undoes it"

.PHONY: resume
resume: ## Undo make drain (DRAIN_PARAMETER=false); AWS_ENDPOINT_URL= for make local
	$(call require,$(AWS_CLI),the AWS CLI v2)
	$(call drain_put,false)
	@echo "resumed: every instance admits again within 30 s"

.PHONY: clean
clean: ## Remove build output (bin/, .aws-sam/)
	rm -rf $(BIN_DIR) .aws-sam
