// Package ticketing is the backend of an event-ticket marketplace built as
// serverless functions on Knative. This package holds no code: it documents
// the layout, which layout_test.go enforces.
//
//	functions/<name>/    one Knative Service each (package main)
//	internal/            what the function images link: the runtime, HTTP,
//	                     sessions, events, the outbox, the databases, and the
//	                     domains (users, tickets, orders, payments, expiry,
//	                     deadletters)
//	internal/devstack/   the local stack, which no image contains: devstack,
//	                     its broker, the embedded FerretDB and its proxy, the
//	                     builds
//	internal/testkit/    what only tests use: the test services, function
//	                     fixtures, Stripe stand-ins
//	cmd/                 devstack and deadletters, the commands people run
//	knative/, eventing/  the manifests a cluster applies and devstack runs
//	deploy/              a module of its own that checks those manifests with
//	                     Knative's API types and builds every image with ko
//	e2e/                 tests of the whole system through devstack
//	bench/               benchmarks and their recorded results
//	scripts/             what make test runs to install and start services
//	docs/                the design, the contract, the deploy guide, research
package ticketing
