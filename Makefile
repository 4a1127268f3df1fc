# Flurry's build. `make run` starts standalone; `make test` is the test command CI runs.
GO      ?= go
BIN     := bin/flurry
export CGO_ENABLED := 0

.PHONY: build run test check fmt vet proto check-proto bench images clean

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

## bench: the latency/throughput benchmark of docs/benchmarks.md
bench: build
	$(GO) run ./e2e/cmd/bench -flurry $(BIN) $(ARGS)

clean:
	rm -rf bin
