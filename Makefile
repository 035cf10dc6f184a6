# The two commands of the README, and a few more.
.PHONY: run test lint chaos fuzz

# Run the whole system on 127.0.0.1:8080 (see cmd/devstack).
run:
	go run ./cmd/devstack

# Install and start what the tests need, then vet, lint and test everything.
test:
	scripts/test

# The long forms of the fault scenarios (docs/RELIABILITY.md): what make test
# runs briefly, run long. About 30 minutes on two cores.
chaos:
	CHAOS=long scripts/test -run='TestChaos|TestMarketplace' -timeout=90m -v ./e2e/...

# Run every fuzz test for FUZZTIME each (default 30s): make fuzz FUZZTIME=5m.
fuzz:
	scripts/fuzz

# gofmt, vet, staticcheck, and go.mod tidy in both modules.
lint:
	gofmt -l . | tee /dev/stderr | (! read)
	go mod tidy -diff
	cd deploy && go mod tidy -diff
	go vet ./...
	go tool staticcheck ./...
	cd deploy && go vet ./... && go tool -modfile=../go.mod staticcheck ./...
