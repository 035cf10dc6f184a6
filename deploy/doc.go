// Package deploy proves the cluster path: its tests decode every manifest of
// knative/ and eventing/ into Knative's own API types and check the
// project's rules (package manifests), and build every ko:// image with ko
// against a registry on loopback.
//
// It is a Go module of its own so that the Knative and Kubernetes modules,
// and ko, never weigh on the functions' module.
package deploy
