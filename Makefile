# The two commands of the README, and a few more.
.PHONY: run test bench lint

# Run the whole system on 127.0.0.1:8080 (see cmd/devstack).
run:
	go run ./cmd/devstack

# Install and start what the tests need, then vet, lint and test everything.
test:
	scripts/test

lint:
	gofmt -l . | tee /dev/stderr | (! read)
	go vet ./...
	go tool staticcheck ./...
	cd deploy && go vet ./... && go tool -modfile=../go.mod staticcheck ./...
