# readout: the two commands a newcomer needs are `make demo` and `make test`.
# Everything else is here for contributors and operators.

GO        ?= go
BIN       ?= bin
GOBIN     := $(shell $(GO) env GOPATH)/bin
CAPNP_VERSION := v3.1.0-alpha.2
CAPNPC_GO := $(GOBIN)/capnpc-go
FUZZTIME  ?= 60s
BENCHCOUNT ?= 6

.PHONY: all build test test-deps vet demo bench bench-quick generate check-generated fuzz fault soak tools clean help

all: build

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

build: ## Build every binary into ./bin.
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

vet: ## go vet and a gofmt check.
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go') | grep -v '\.capnp\.go$$'); \
	if [ -n "$$out" ]; then echo "gofmt needed on: $$out"; exit 1; fi

test-deps: ## Install what the tests use: capnp (apt), DuckDB for Node (npm).
	@scripts/test-deps.sh

test: test-deps vet ## Run every test with the race detector.
	$(GO) test -race -timeout 9m ./...

demo: build ## Run the whole pipeline on this machine and print what it measured.
	$(BIN)/demo --bin $(BIN)

BENCHFLAGS = -run '^$$' -benchmem

bench: ## Full benchmarks (about 17 minutes): micro, forwarding vs rsyslog, pipeline (1M burst and 60 s sustained), scaling; results in bench/results/.
	@mkdir -p bench/results
	{ $(GO) test $(BENCHFLAGS) -bench . -count $(BENCHCOUNT) -benchtime 500ms ./wire/ ./bench/ ./collector/window/ && \
	  $(GO) test $(BENCHFLAGS) -bench '^Benchmark(Emit|EmitParallel|WriterThroughput)$$' -count $(BENCHCOUNT) -benchtime 500ms ./emitter/ && \
	  $(GO) test $(BENCHFLAGS) -bench '^BenchmarkAcceptedEmit$$' -count $(BENCHCOUNT) -benchtime 500000x ./emitter/ && \
	  $(GO) test $(BENCHFLAGS) -bench '^BenchmarkIngest$$' -count $(BENCHCOUNT) -benchtime 200000x ./forwarder/ && \
	  $(GO) test $(BENCHFLAGS) -bench '^BenchmarkIngestBatchBytes$$' -count 3 -benchtime 100000x ./forwarder/ && \
	  $(GO) test $(BENCHFLAGS) -bench . -count $(BENCHCOUNT) -benchtime 1x ./query/ ; } > bench/results/micro.txt
	$(GO) run ./bench/cmd/benchsummary --in bench/results/micro.txt --out bench/results/micro.md --command 'make bench'
	$(GO) run ./bench/cmd/forwardbench --events 1000000
	$(GO) run ./bench/cmd/pipelinebench --events 1000000
	$(GO) run ./bench/cmd/pipelinebench --rate 400000 --duration 60s --no-hops --out bench/results/sustained
	$(GO) run ./bench/cmd/scaling

bench-quick: ## A quick pass (about 3 minutes) to spot regressions; results in bench/results/quick/.
	@mkdir -p bench/results/quick
	{ $(GO) test $(BENCHFLAGS) -bench . -count 1 -benchtime 100ms ./wire/ ./bench/ ./collector/window/ ./emitter/ && \
	  $(GO) test $(BENCHFLAGS) -bench '^BenchmarkIngest$$' -count 1 -benchtime 50000x ./forwarder/ && \
	  $(GO) test $(BENCHFLAGS) -bench '^BenchmarkRun/(total|by_model)$$' -count 1 -benchtime 1x ./query/ ; } > bench/results/quick/micro.txt
	$(GO) run ./bench/cmd/benchsummary --in bench/results/quick/micro.txt --out bench/results/quick/micro.md --command 'make bench-quick'
	$(GO) run ./bench/cmd/forwardbench --quick --out bench/results/quick
	$(GO) run ./bench/cmd/pipelinebench --quick --out bench/results/quick
	$(GO) run ./bench/cmd/scaling --quick --out bench/results/quick

tools: ## Install the pinned capnpc-go code generator if it is missing.
	@test -x $(CAPNPC_GO) || $(GO) install capnproto.org/go/capnp/v3/capnpc-go@$(CAPNP_VERSION)
	@command -v capnp >/dev/null || { echo "capnp (the Cap'n Proto compiler) is missing: install it with 'apt-get install capnproto' (Debian/Ubuntu) or 'brew install capnp' (macOS)"; exit 1; }

generate: tools ## Regenerate the Go code from schema/events.capnp.
	PATH="$(GOBIN):$$PATH" $(GO) generate ./schema

check-generated: generate ## Fail if the committed generated code is stale.
	@git diff --exit-code -- schema/ || { echo "schema/*.capnp.go is stale: run 'make generate' and commit the result"; exit 1; }

fault: ## 30 seeded crash cycles through real daemons (READOUT_FAULT_SEED=N replays one).
	READOUT_FAULT_CYCLES=$${READOUT_FAULT_CYCLES:-30} $(GO) test -run TestCrashCycles -v -count=1 -timeout 30m ./test/fault/

soak: ## A 10-minute steady run checking RSS, fds and goroutines for leaks.
	READOUT_SOAK=1 $(GO) test -run TestSoak -v -count=1 -timeout 30m ./test/soak/

fuzz: ## Run every fuzz target for FUZZTIME (default 60s) each.
	@scripts/fuzz.sh $(FUZZTIME)

clean: ## Remove build output.
	rm -rf $(BIN)
