STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: test build run lint bench

test:
	scripts/test.sh

build:
	go build -o bin/klaxon ./cmd/klaxon

run:
	go run ./cmd/klaxon serve --config.file examples/klaxon.yml

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	go run $(STATICCHECK) ./...

# Klaxon against Alertmanager on this machine; records the results in BENCHMARKS.md.
bench:
	go run ./bench/cmd/klaxon-bench $(BENCHFLAGS)
