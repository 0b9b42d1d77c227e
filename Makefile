# flyte: the Makefile is the entry point. `make demo` and `make test` work on a fresh machine.
GO      ?= go
export GOFLAGS ?= -trimpath

.PHONY: all build install plugins examples conformance test lint fmt-check doc-check fuzz-check cross fuzz bench bench-peers demo clean

all: build

# Each built-in plugin is a WebAssembly module built by the go:generate lines of host/builtin (the
# stores are Go reactor modules compiled to wasip1, the injectors are assembled by
# plugins/internal/injectwasm) and embedded in the flyte binary by name: a build without them fails.
plugins:
	$(GO) generate ./host/builtin

build: plugins
	$(GO) build -o bin/flyte ./cmd/flyte

# The example plugins of plugins/examples, an author's starting points, built into bin/examples, each with
# its flyte.describe section. The C injector needs clang-14, lld-14, wasi-libc and libclang-rt-14-dev-wasm32
# (Debian's packages, which .ci/run installs); without clang-14 it is skipped with a message. The Makefile
# installs nothing.
EXAMPLES := tmplinject dirstore
CC_WASM ?= clang-14
WASI_SYSROOT ?= /usr
examples:
	@mkdir -p bin/examples
	@set -e; for p in $(EXAMPLES); do \
		echo "examples: $$p"; \
		GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -ldflags=-s -o bin/examples/$$p.wasm ./plugins/examples/$$p/wasm; \
	done
	@rm -f bin/examples/cinject.wasm
	@if command -v $(CC_WASM) >/dev/null 2>&1; then \
		echo "examples: cinject ($(CC_WASM))"; \
		$(CC_WASM) --target=wasm32-wasi --sysroot=$(WASI_SYSROOT) -mexec-model=reactor -Os -Wall -Wextra -Werror \
			-Wl,--strip-all -o bin/examples/cinject.wasm plugins/examples/cinject/cinject.c; \
	else \
		echo "examples: skipping cinject: $(CC_WASM) is not installed (Debian: apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32)"; \
	fi
	$(GO) run ./internal/describesection bin/examples/*.wasm

# flyte plugin test (the conformance suite) on every built-in and example plugin, as a user with no
# configuration would run it: in a fresh HOME, away from this repository's flyte.toml.
conformance: build examples
	@set -e; home="$$(mktemp -d)"; trap 'rm -rf "$$home"' EXIT; \
	for p in envinject fileinject filestore $(CURDIR)/bin/examples/*.wasm; do \
		echo "conformance: $$p"; \
		(cd "$$home" && env -u FLYTE_CONFIG -u XDG_CONFIG_HOME -u XDG_DATA_HOME -u XDG_STATE_HOME -u XDG_CACHE_HOME \
			-u FLYTE_CACHE_DIR HOME="$$home" $(CURDIR)/bin/flyte plugin test "$$p"); \
	done

# The README's install command: flyte, with its plugins, in $GOBIN, else $(go env GOPATH)/bin (~/go/bin).
install: plugins
	$(GO) install ./cmd/flyte

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# The README's test command: formatting, vet and staticcheck (host and wasip1 builds; every release
# target builds and vets), then every test.
test: build lint
	$(GO) test -count=1 -timeout 30m ./... # cmd/flyte runs every testscript twice: in-process and with the agent
	$(GO) test -count=1 -tags flytepgroup ./host/task
	$(GO) test -count=1 -tags flytenohttp ./host/capability ./host/plugin ./host/httpgrant ./host/core

lint: plugins cross fmt-check doc-check fuzz-check
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./abi/... ./plugins/... ./testdata/plugins/...
	GOBIN=$(CURDIR)/bin $(GO) install $(STATICCHECK)
	bin/staticcheck ./...
	GOOS=wasip1 GOARCH=wasm bin/staticcheck ./abi/... ./plugins/... ./testdata/plugins/...
	GOOS=darwin bin/staticcheck ./host/task ./host/fsgrant
	bin/staticcheck -tags flytepgroup ./host/task

# The Go files are found without git, so that a copy of the tree without .git is checked too.
fmt-check:
	@files="$$(find . -path './.*' -prune -o -name '*.go' -print)"; \
	test -n "$$files" || { echo "fmt-check: no Go files found in $(CURDIR)"; exit 1; }; \
	out="$$(gofmt -l $$files)"; test -z "$$out" || { echo "gofmt needed: $$out"; exit 1; }

# Relative links in the Markdown files lead to files of this repository: nothing outside it, nothing missing.
doc-check:
	@bad="$$(find . -path './.*' -prune -o -name '*.md' -print | while read -r f; do \
		grep -o '](\([^)#]*\)' "$$f" | sed 's/^](//' | grep -v '^[a-z]*:' | while read -r l; do \
			test -n "$$l" || continue; t="$$(realpath -m "$$(dirname "$$f")/$$l")"; \
			case "$$t" in "$(CURDIR)"/*) test -e "$$t" || echo "$$f: $$l (missing)";; *) echo "$$f: $$l (outside the repository)";; esac; \
		done; done)"; test -z "$$bad" || { echo "doc-check: bad links:"; echo "$$bad"; exit 1; }

# The four release targets each build and vet (tests included). Nothing here runs tests on macOS: its
# task runner is also built on Linux with -tags flytepgroup, where make test runs its tests.
CROSS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
cross: plugins
	@set -e; for t in $(CROSS); do \
		echo "cross: $$t: go build ./cmd/flyte && go vet ./..."; \
		GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build -o /dev/null ./cmd/flyte; \
		GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) vet ./...; \
	done
	$(GO) vet -tags flytepgroup ./host/task ./cmd/flyte

# Fuzz each parser of untrusted bytes for a short while (not part of test).
fuzz:
	$(GO) test ./abi -run XXX -fuzz FuzzUnmarshal -fuzztime 30s
	$(GO) test ./plugins/examples/tmplinject -run XXX -fuzz '^FuzzParse$$' -fuzztime 30s
	$(GO) test ./plugins/examples -run XXX -fuzz '^FuzzPlan$$' -fuzztime 30s
	$(GO) test ./host/builtin -run XXX -fuzz '^FuzzInjectors$$' -fuzztime 30s
	$(GO) test ./plugins/examples/dirstore -run XXX -fuzz '^FuzzRecordFile$$' -fuzztime 30s
	$(GO) test ./host/seal -run XXX -fuzz FuzzOpen -fuzztime 30s
	$(GO) test ./host/seal -run XXX -fuzz FuzzParseEnvelope -fuzztime 30s
	$(GO) test ./host/seal -run XXX -fuzz FuzzBech32 -fuzztime 30s
	$(GO) test ./host/httpgrant -run XXX -fuzz '^FuzzParseGrant$$' -fuzztime 30s
	$(GO) test ./host/httpgrant -run XXX -fuzz '^FuzzRequest$$' -fuzztime 30s
	$(GO) test ./host/httpgrant/origin -run XXX -fuzz '^FuzzParse$$' -fuzztime 30s
	$(GO) test ./plugins/etcdstore -run XXX -fuzz '^FuzzJSON$$' -fuzztime 30s
	$(GO) test ./host/secrets -run XXX -fuzz '^FuzzParseKeyStates$$' -fuzztime 30s
	$(GO) test ./host/secrets -run XXX -fuzz '^FuzzParseVouchers$$' -fuzztime 30s
	$(GO) test ./host/secrets -run XXX -fuzz '^FuzzList$$' -fuzztime 30s
	$(GO) test ./host/secrets -run XXX -fuzz '^FuzzListResultJSON$$' -fuzztime 30s
	$(GO) test ./host/secrets -run XXX -fuzz '^FuzzNames$$' -fuzztime 30s
	$(GO) test ./host/plugin -run XXX -fuzz '^FuzzLoad$$' -fuzztime 30s
	$(GO) test ./host/plugin -run XXX -fuzz '^FuzzInspect$$' -fuzztime 30s
	$(GO) test ./internal/describesection -run XXX -fuzz '^FuzzStrip$$' -fuzztime 30s
	$(GO) test ./host/scope -run XXX -fuzz '^FuzzValidateKey$$' -fuzztime 30s
	$(GO) test ./host/config -run XXX -fuzz FuzzLoad -fuzztime 30s -fuzzminimizetime 2s
	$(GO) test ./host/config -run XXX -fuzz '^FuzzPrivateGroup$$' -fuzztime 30s
	$(GO) test ./host/trust -run XXX -fuzz '^FuzzParse$$' -fuzztime 30s
	$(GO) test ./host/secrets -run XXX -fuzz '^FuzzParseMarks$$' -fuzztime 30s
	$(GO) test ./host/scope -run XXX -fuzz '^FuzzValidateProject$$' -fuzztime 30s
	$(GO) test ./host/grant -run XXX -fuzz '^FuzzResolve$$' -fuzztime 30s
	$(GO) test ./host/task -run XXX -fuzz '^FuzzDecodeInit$$' -fuzztime 30s
	$(GO) test ./host/task -run XXX -fuzz '^FuzzParseStatPPID$$' -fuzztime 30s
	$(GO) test ./host/mask -run XXX -fuzz '^FuzzWriter$$' -fuzztime 30s
	$(GO) test ./host/seal -run XXX -fuzz '^FuzzParseIdentity$$' -fuzztime 30s
	$(GO) test ./host/identity -run XXX -fuzz '^FuzzVariables$$' -fuzztime 30s
	$(GO) test ./host/dockercfg -run XXX -fuzz '^FuzzFromConfig$$' -fuzztime 30s
	$(GO) test ./host/config -run XXX -fuzz '^FuzzLocate$$' -fuzztime 30s
	$(GO) test ./host/config -run XXX -fuzz '^FuzzParseIDMap$$' -fuzztime 30s
	$(GO) test ./cmd/flyte -run XXX -fuzz '^FuzzCutBlock$$' -fuzztime 30s
	$(GO) test ./host/httpgrant -run XXX -fuzz '^FuzzReveals$$' -fuzztime 30s
	$(GO) test ./host/inject -run XXX -fuzz '^FuzzRender$$' -fuzztime 30s
	$(GO) test ./host/plugin -run XXX -fuzz '^FuzzSections$$' -fuzztime 30s
	$(GO) test ./plugins/filestore -run XXX -fuzz '^FuzzScanFrames$$' -fuzztime 30s
	$(GO) test ./plugins/filestore -run XXX -fuzz '^FuzzLoadLog$$' -fuzztime 30s
	$(GO) test ./plugins/filestore -run XXX -fuzz '^FuzzFrameRaw$$' -fuzztime 30s
	$(GO) test ./host/pytask -run XXX -fuzz '^FuzzParse$$' -fuzztime 30s
	$(GO) test ./host/plugin -run XXX -fuzz '^FuzzMarker$$' -fuzztime 30s
	$(GO) test ./host/plugin -run XXX -fuzz '^FuzzStub$$' -fuzztime 30s
	$(GO) test ./host/fsgrant -run XXX -fuzz '^FuzzParseDirents$$' -fuzztime 30s
	$(GO) test ./cmd/flyte -run XXX -fuzz '^FuzzScopeFlags$$' -fuzztime 30s
	$(GO) test ./host/sanitize -run XXX -fuzz '^FuzzText$$' -fuzztime 30s
	$(GO) test ./host/agent -run XXX -fuzz '^FuzzReply$$' -fuzztime 30s
	$(GO) test ./host/agent -run XXX -fuzz '^FuzzRequest$$' -fuzztime 30s
	$(GO) test ./host/secretfile -run XXX -fuzz '^FuzzValidName$$' -fuzztime 30s
	$(GO) test ./host/inject -run XXX -fuzz '^FuzzParsePlans$$' -fuzztime 30s
	$(GO) test ./host/inject -run XXX -fuzz '^FuzzParseGoBuildID$$' -fuzztime 30s

# Every fuzz target of the tree is run by `make fuzz` (a target nobody runs finds nothing).
fuzz-check:
	@missing="$$(find . -path './.*' -prune -o -name '*_test.go' -print | xargs grep -l '^func Fuzz' | while read -r f; do \
		d="$$(dirname "$$f")"; for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$f"); do \
			grep -q -- "$$d .*$$fn" Makefile || echo "$$d $$fn"; done; done)"; \
	test -z "$$missing" || { echo "fuzz-check: not in make fuzz:"; echo "$$missing"; exit 1; }

# flyte against flyte-native, with issue 8's targets: "flyte" is served by a warm agent that the bench starts
# in a runtime directory of its own (never the user's agent) and stops at the end (docs/PERFORMANCE.md).
bench: build examples
	$(GO) run ./internal/bench

# flyte run beside sops exec-env: builds sops and age from source (go install) into a temporary directory,
# never the repository; it may take minutes, so it is in neither make test nor CI.
bench-peers: build
	$(GO) run ./internal/bench -peers

# The main job on the embedded default store, with this repository's flyte.toml (store in .demo/). It is
# named with --config: a flyte.toml flyte merely finds in the working directory may not move the store.
demo: build
	@rm -rf .demo
	@set -x; \
	bin/flyte create secret --config flyte.toml MY_SECRET_KEY my_secret_value && \
	bin/flyte create secret --config flyte.toml --project my_project --domain development MY_SECRET_KEY my_secret_value && \
	f=$$(mktemp) && printf 'line one\nline two\n' > $$f && \
	bin/flyte create secret --config flyte.toml my_file_secret --from-file $$f && rm $$f && \
	echo piped_value | bin/flyte create secret --config flyte.toml --domain staging PIPED && \
	echo rotated_value | bin/flyte update secret --config flyte.toml MY_SECRET_KEY && \
	bin/flyte get secret --config flyte.toml && \
	bin/flyte get secret --config flyte.toml --project my_project --domain development -o json && \
	bin/flyte delete secret --config flyte.toml MY_SECRET_KEY && \
	bin/flyte get secret --config flyte.toml && \
	bin/flyte plugin list --config flyte.toml && \
	bin/flyte create secret --config flyte.toml my_secret my_task_secret_value && \
	bin/flyte get secret --config flyte.toml --resolve -p my_project -d development && \
	bin/flyte run env_1 --config flyte.toml -- sh -c 'echo "task 1 reads MY_SECRET_ENV_VAR=$$MY_SECRET_ENV_VAR"' && \
	bin/flyte run env_2 --config flyte.toml -- sh -c 'ls -l /etc/flyte/secrets; echo "task 2 reads $$(cat /etc/flyte/secrets/my_secret)"' && \
	bin/flyte run env_2 --config flyte.toml --no-mask -- sh -c 'test "$$(cat /etc/flyte/secrets/my_secret)" = my_task_secret_value && echo "task 2 got the right value (checked, not printed)"' && \
	! test -e /etc/flyte && \
	! grep -r -e my_secret_value -e rotated_value -e my_task_secret_value .demo && \
	echo 'demo: ok'

clean:
	rm -rf bin host/builtin/wasm/*.wasm
