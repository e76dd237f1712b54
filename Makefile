# Ostium build. Every tool the build needs is installed here, at a pinned
# version, into .tools/bin; nothing is assumed to be on the machine but Go.

SHELL          := /usr/bin/env bash
GO             ?= go
TOOLS          := $(CURDIR)/.tools/bin
SWAGGER_VERSION     := v0.36.7
STATICCHECK_VERSION := v0.8.2
SWAGGER        := $(TOOLS)/swagger-$(SWAGGER_VERSION)
STATICCHECK    := $(TOOLS)/staticcheck-$(STATICCHECK_VERSION)
VERSION        ?= $(shell git describe --tags --match "v[0-9]*" 2>/dev/null | sed "s/^v//" || true)
REVISION       ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
# The commit's date, not the clock's: an unchanged tree builds with the same
# flags, so `make build` (and `make quickstart`) relinks nothing.
BUILD_DATE     ?= $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo unknown)
# Clients parse the version as semver; untagged builds report 0.0.0, which
# OpenZiti SDKs treat as "current".
ifeq ($(VERSION),)
VERSION        := 0.0.0
endif
LDFLAGS        := -X github.com/ostium-net/ostium/internal/buildinfo.Version=$(VERSION) \
                  -X github.com/ostium-net/ostium/internal/buildinfo.Revision=$(REVISION) \
                  -X github.com/ostium-net/ostium/internal/buildinfo.BuildDate=$(BUILD_DATE)
TEST_TIMEOUT   ?= 9m
QUICKSTART_HOME ?= $(CURDIR)/.quickstart

.PHONY: all build test soak generate lint bench quickstart tools clean

all: build

build:
	@mkdir -p bin
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ ./controller/cmd/ostium-controller ./cmd/ostium ./router/cmd/ostium-router ./tunnel/cmd/ostium-tunnel

test:
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./...

# soak runs the long fault and load tests (files tagged `soak`, tests named
# Soak*): kill, partition and churn runs too long for `make test`.
soak:
	$(GO) test -race -tags soak -run 'Soak' -timeout 90m ./...

# bench runs every Go benchmark, then measures a local network (data plane next
# to a TLS relay chain, controller rates against clients) and writes the report
# with its plots to $(BENCH_OUT): report.md, summary.md, results.json, *.png.
BENCH_OUT ?= bench-out

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 20m ./...
	$(GO) run ./cmd/internal/benchreport -out $(BENCH_OUT) -command 'make bench'

$(SWAGGER):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/go-swagger/go-swagger/cmd/swagger@$(SWAGGER_VERSION)
	mv $(TOOLS)/swagger $@

$(STATICCHECK):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(TOOLS)/staticcheck $@

tools: $(SWAGGER) $(STATICCHECK)

# generate wipes every generated folder and rebuilds it from specs/.
generate: $(SWAGGER)
	SWAGGER=$(SWAGGER) ./specs/generate.sh

lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) $$($(GO) list ./... | grep -v -e /sdk/restapi -e /internal/restserver)

quickstart: build
	./bin/ostium quickstart --home $(QUICKSTART_HOME)

clean:
	rm -rf bin .tools
