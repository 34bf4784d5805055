# thingpress: build, test, lint, demo, bench. See README.md.
GO      ?= go
BIN     ?= bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build test lint demo bench fuzz clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/thingpress ./cmd/thingpress

# The whole test suite: needs 7z (p7zip-full), python3 with moto, the AWS CLI
# and openssl; integration tests start moto themselves.
test: lint
	$(GO) test -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The main job end to end against a local moto: see scripts/demo.sh.
demo: build
	scripts/demo.sh

# Benchmarks of inspect (100,000 devices) and of import at AWS's default
# quotas behind the throttling proxy: see BENCHMARKS.md.
bench:
	scripts/bench.sh

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzOpen -fuzztime 60s ./internal/manifest/infineon/
	$(GO) test -run '^$$' -fuzz FuzzReader -fuzztime 60s ./internal/manifest/xmlmanifest/

clean:
	rm -rf $(BIN)
