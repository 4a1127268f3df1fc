# Flurry's build. `make run` starts standalone; `make test` is the test command CI runs.
GO      ?= go
BIN     := bin/flurry
export CGO_ENABLED := 0

.PHONY: build run test check fmt vet proto check-proto bench images clean fuzz-short

## build: the static flurry binary (static so it can also be the in-container action proxy)
build:
	$(GO) build -trimpath -o $(BIN) ./cmd/flurry

## run: start Flurry standalone (embedded NATS, Docker when reachable); extra flags via ARGS=
run: build
	$(BIN) standalone $(ARGS)

## images: the runtime images (go, python:3, nodejs) on the local Docker engine, built the way
## standalone builds them at start; only missing ones are built. Extra flags via ARGS= (--rebuild)
images: build
	bash scripts/images.sh $(ARGS)

## compose-images: the FROM-scratch images of deploy/compose (flurry/flurry:local and a static
## flurry/nats-server:local from go.mod's nats-server); then deploy/compose/up.sh DIR starts the stack
.PHONY: compose-images
compose-images:
	GO=$(GO) bash deploy/compose/images.sh

## check: formatting, vet and generated-code freshness
check: fmt vet check-proto

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

proto:
	bash scripts/proto.sh

check-proto:
	bash scripts/check-proto.sh

## test: everything, with the race detector; e2e runs against the real Docker engine when one is reachable
test: build check
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 40m ./...
	$(MAKE) fuzz-short

## fuzz-short: each fuzz target of the API edge for FUZZTIME (default 15s): no input may get a 5xx
## or close the controller's NATS connection. A longer run, one target at a time, e.g.:
##   go test -run '^$$' -fuzz '^FuzzREST$$' -fuzztime 30m ./gateway/   (and '^FuzzGRPC$$')
## New failing inputs are written to gateway/testdata/fuzz/ and then run by every `go test`.
FUZZTIME ?= 15s
FUZZ_TARGETS := FuzzREST FuzzGRPC
fuzz-short:
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) ./gateway/ || exit 1; \
	done

## bench: the latency/throughput benchmark of docs/benchmarks.md
bench: build
	$(GO) run ./e2e/cmd/bench -flurry $(BIN) $(ARGS)

clean:
	rm -rf bin
