# STT — one Makefile is the interface; CI just calls `make test`.
# Run `make help` for the list of targets.

GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHSTAT   ?= golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
FUZZTIME    ?= 30s
BENCHCOUNT  ?= 10
BENCH       ?= .
PKGS        := ./...
# FUZZ_PKG_TARGETS are the fuzz targets that live beside the unexported code
# they test rather than in ./fuzz, as module-dir:package:Target; `make fuzz`
# runs them after ./fuzz's and fails if a Fuzz* function outside ./fuzz is
# missing here.
FUZZ_PKG_TARGETS := \
	.:./dataplane:FuzzSession \
	.:./dataplane/internal/recovery:FuzzController \
	.:./dataplane/internal/recovery:FuzzRecoveryAck \
	.:./dataplane/internal/streambuf:FuzzReassembly \
	.:./dataplane/internal/streambuf:FuzzMessageHeader \
	.:./control:FuzzInitiatorAnswers \
	.:./control:FuzzResume \
	.:./wire:FuzzParseResume \
	.:./streaming:FuzzRecord \
	.:./storage:FuzzRetrieve \
	.:./storage/s3store:FuzzParseURL \
	.:./cmd/stt:FuzzParseHeader \
	.:./cmd/stt:FuzzParseReply \
	.:./cmd/stt:FuzzLiveFrame \
	.:./cmd/stt:FuzzBLAKE3 \
	.:./transport/ws:FuzzFrame \
	bench:./cmd/compare:FuzzRawCounter
# VERSION is what bin/stt --version reports; builds from a checkout where
# the go command cannot stamp VCS information (git worktrees,
# -buildvcs=false) still name their commit.
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null)

.PHONY: demo compare compare-smoke wan soak help test fmt-check vet lint staticcheck unit race bench-smoke bench fuzz demo build tidy-check compare

help: ## show this help
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

test: fmt-check tidy-check vet staticcheck race bench-smoke demo compare-smoke ## the full check CI runs: gofmt, go mod tidy -diff, vet, staticcheck, go test -race, every benchmark once, the demo, a comparison smoke round
	@echo "make test: all checks passed"

fmt-check: ## fail if gofmt would change any file
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet: ## go vet on every package
	$(GO) vet $(PKGS)

staticcheck: ## staticcheck at a pinned version (run through the module proxy, not go.mod)
	$(GO) run $(STATICCHECK) $(PKGS)

lint: fmt-check vet staticcheck ## gofmt + vet + staticcheck

unit: ## go test without the race detector
	$(GO) test -shuffle=on $(PKGS)

race: ## go test -race on every package
	$(GO) test -race -shuffle=on -timeout 20m $(PKGS)

bench-smoke: ## run every benchmark once so none rots
	$(GO) test -run '^$$' -bench . -benchtime=1x -timeout 20m $(PKGS)

bench: ## benchstat-ready benchmarks (BENCHCOUNT=10, BENCH=regexp); save with `make bench > new.txt`
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count=$(BENCHCOUNT) -timeout 60m $(PKGS)

benchstat: ## compare two bench outputs: make benchstat OLD=old.txt NEW=new.txt
	$(GO) run $(BENCHSTAT) $(OLD) $(NEW)

fuzz: ## run every Fuzz* target in ./fuzz, then each in FUZZ_PKG_TARGETS, for FUZZTIME each (default 30s)
	@set -e; for f in $$(git grep -l '^func Fuzz' -- '*_test.go' ':!fuzz/'); do \
		dir=$$(dirname $$f); mod=.; pkg=./$$dir; \
		case $$dir in bench|bench/*) mod=bench; pkg=.$${dir#bench};; esac; \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			case " $(FUZZ_PKG_TARGETS) " in *" $$mod:$$pkg:$$t "*) ;; \
			*) echo "make fuzz: $$f: $$t is not in FUZZ_PKG_TARGETS (add $$mod:$$pkg:$$t)"; exit 1;; esac; \
		done; \
	done; \
	fuzz1() { \
		corpus=$$1/$${2#./}/testdata/fuzz/$$3; \
		n=$$(ls $$corpus 2>/dev/null | wc -l); \
		$(GO) -C $$1 test $$2 -run '^$$' -fuzz "^$$3$$" -fuzztime $(FUZZTIME) && return 0; \
		[ $$(ls $$corpus 2>/dev/null | wc -l) -gt $$n ] && return 1; \
		echo "make fuzz: $$3 failed without writing a failing input: once more (go.dev/issue/75804, Go 1.26: a worker still running at the -fuzztime deadline is reported as a failure)"; \
		$(GO) -C $$1 test $$2 -run '^$$' -fuzz "^$$3$$" -fuzztime $(FUZZTIME); \
	}; \
	for t in $$($(GO) test ./fuzz/ -list '^Fuzz' | grep '^Fuzz'); do \
		echo "== ./fuzz $$t ($(FUZZTIME))"; \
		fuzz1 . ./fuzz $$t; \
	done; \
	for e in $(FUZZ_PKG_TARGETS); do \
		mod=$${e%%:*}; rest=$${e#*:}; pkg=$${rest%:*}; t=$${rest##*:}; \
		$(GO) -C $$mod test $$pkg -list "^$$t$$" | grep -qx "$$t" || { echo "make fuzz: no $$t in $$mod $$pkg"; exit 1; }; \
		echo "== $$pkg $$t ($(FUZZTIME))"; \
		fuzz1 $$mod $$pkg $$t; \
	done

demo: ## the main job: two nodes on loopback move 256 MiB + 64 MiB + 100 000 messages at once, every byte verified
	$(GO) run ./cmd/stt demo

compare: ## side-by-side loopback table: STT, quic-go, kcp-go, TLS 1.3/TCP, raw UDP (1 GiB, 3 rounds)
	cd bench && $(GO) run ./cmd/compare

compare-smoke: ## build, vet, test and smoke-run the comparison harness (its own module)
	cd bench && $(GO) vet ./... && $(GO) test ./... && $(GO) run ./cmd/compare -short

wan: ## STT vs quic-go through the path emulator over rate x RTT x loss x queue, plus shared bottlenecks (WANFLAGS=-short for a smoke run; the full grid takes 1-1.5 h)
	cd bench && $(GO) run ./cmd/wan $(WANFLAGS)

soak: ## 30 s full-speed transfer; checks the heap stays flat (SOAK=30s)
	STT_SOAK=$${SOAK:-30s} $(GO) test -run '^TestSoakHeap$$' -count=1 -v .

build: ## build every package, and the stt binary as ./bin/stt (version from git describe)
	$(GO) build $(PKGS)
	$(GO) build -o bin/stt $(if $(VERSION),-ldflags "-X main.buildVersion=$(VERSION)") ./cmd/stt
	@echo "bin/stt: $$(./bin/stt --version)"

tidy-check: ## fail if go.mod/go.sum are not tidy
	$(GO) mod tidy -diff
