package deploy_test

import (
	"os"
	"testing"

	"github.com/ticketing-on-knative/ticketing/deploy/manifests"
)

// TestManifests checks the manifests of the repository: every object as
// the cluster's admission webhooks would, and the project's rules (see
// package manifests). Each problem names the file and the rule.
func TestManifests(t *testing.T) {
	for _, p := range manifests.Check(os.DirFS("..")) {
		t.Error(p)
	}
}
