# flyte: the Makefile is the entry point. `make demo` and `make test` work on a fresh machine.
GO      ?= go
PLUGINS := filestore
WASM    := $(foreach p,$(PLUGINS),host/builtin/wasm/$(p).wasm)
export GOFLAGS ?= -trimpath

.PHONY: all build plugins test check bench demo clean FORCE

all: build

# Each built-in plugin is a Go reactor module compiled to wasip1 and embedded in the flyte binary.
# The go command decides whether anything changed; FORCE keeps make from second-guessing it.
host/builtin/wasm/%.wasm: FORCE
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -ldflags=-s -o $@ ./plugins/$*/wasm

plugins: $(WASM)

build: plugins
	$(GO) build -o bin/flyte ./cmd/flyte

test: build
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./abi/... ./plugins/...
	$(GO) test -count=1 ./...

check: test
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }

bench: build
	$(GO) run ./internal/bench

demo: build
	./scripts/demo.sh

clean:
	rm -rf bin host/builtin/wasm/*.wasm
