# thingpress: build, test, lint, demo, bench. See README.md.
GO      ?= go
BIN     ?= bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# golangci-lint, built from the Go module proxy into $(BIN) on first use.
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
# gotestsum runs go test and closes with the skipped tests and their reasons
# (no ../shared, no 7z) and one DONE line; built the same way.
GOTESTSUM_VERSION := v1.13.0
GOTESTSUM := $(BIN)/gotestsum-$(GOTESTSUM_VERSION)

.PHONY: all build lambda test lint demo bench fuzz clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/thingpress ./cmd/thingpress

# The two Lambda functions of template.yaml (provided.al2023, arm64): one
# bootstrap binary each in bin/lambda/<function>/, the CodeUri that sam deploy
# zips. See docs/deployment.md.
lambda:
	for f in provider importer; do \
	  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -trimpath -tags lambda.norpc \
	    -ldflags '$(LDFLAGS)' -o bin/lambda/$$f/bootstrap ./cmd/$$f || exit 1; \
	done

# The whole test suite: needs 7z (p7zip-full), python3 with moto, the AWS CLI, jq,
# openssl, cfn-lint and aws-lambda-rie (.ci/run installs what is missing);
# integration tests start moto themselves.
test: lint $(GOTESTSUM)
	$(GOTESTSUM) --format pkgname-and-test-fails -- -count=1 ./...

# gofmt, go vet, staticcheck, errcheck and the other linters of .golangci.yml.
lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run

$(GOLANGCI_LINT):
	mkdir -p $(BIN)/tools
	GOBIN=$(abspath $(BIN))/tools $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN)/tools/golangci-lint $@

$(GOTESTSUM):
	mkdir -p $(BIN)/tools
	GOBIN=$(abspath $(BIN))/tools $(GO) install gotest.tools/gotestsum@$(GOTESTSUM_VERSION)
	mv $(BIN)/tools/gotestsum $@

# The main job end to end against a local moto: see scripts/demo.sh.
demo: build
	scripts/demo.sh

# Benchmarks of inspect (100,000 devices), of import at AWS's default quotas
# behind the throttling proxy, and of the stack's provider and importers:
# see BENCHMARKS.md.
bench:
	scripts/bench.sh

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzOpen -fuzztime 60s ./internal/manifest/infineon/
	$(GO) test -run '^$$' -fuzz FuzzHeader -fuzztime 60s ./internal/manifest/infineon/
	$(GO) test -run '^$$' -fuzz FuzzReader -fuzztime 60s ./internal/manifest/xmlmanifest/
	$(GO) test -run '^$$' -fuzz FuzzScanPEM -fuzztime 60s ./internal/manifest/
	$(GO) test -run '^$$' -fuzz FuzzReader -fuzztime 60s ./internal/manifest/microchip/
	$(GO) test -run '^$$' -fuzz FuzzReader -fuzztime 60s ./internal/manifest/espressif/
	$(GO) test -run '^$$' -fuzz FuzzReader -fuzztime 60s ./internal/manifest/generated/
	$(GO) test -run '^$$' -fuzz FuzzSniff -fuzztime 60s ./internal/manifest/format/
	$(GO) test -run '^$$' -fuzz FuzzReader -fuzztime 60s ./internal/bind/

clean:
	rm -rf $(BIN)
