// Package manifests checks the cluster manifests of the repository: every
// object of knative/ and eventing/ is decoded strictly into its Knative,
// Kubernetes or Gateway API Go type, defaulted and validated as the cluster's
// admission webhooks would, and then held to the project's own rules
// (rules.go), which tie the manifests to the functions/ directories, the
// event catalogue and the routes of docs/API.md.
//
// Knative cannot run where the tests run, so this is how a manifest that the
// cluster would refuse, or accept and then run wrongly, fails before anyone
// applies it.
package manifests

import (
	"fmt"
	"io/fs"
	"slices"
)

// Dirs are the directories of the repository that hold manifests, in the
// order `ko apply -f knative/ -f eventing/` reads them.
var Dirs = []string{"knative", "eventing"}

// GatewayDir holds what the public routes need outside the project's
// namespace (a ReferenceGrant in the namespace of Knative's ingress), so it
// is applied on its own: `kubectl apply -f knative/gateway/`.
const GatewayDir = "knative/gateway"

// A Problem is one broken rule in one file.
type Problem struct {
	File   string // relative to the repository root: knative/signup.yaml
	Object string // Kind name, such as "Service signup"; empty for a file or directory
	Rule   string // the rule, in a few words
	Detail string // what is wrong and, where it helps, what to do
}

func (p Problem) Error() string {
	if p.Object == "" {
		return fmt.Sprintf("%s: %s: %s", p.File, p.Rule, p.Detail)
	}
	return fmt.Sprintf("%s: %s: %s: %s", p.File, p.Object, p.Rule, p.Detail)
}

// Check loads the manifests of the repository rooted at fsys and returns
// every problem it finds: objects the cluster would refuse, then the
// project's rules. No problems means the manifests are ready to apply.
func Check(fsys fs.FS) []Problem {
	dirs := Dirs
	if _, err := fs.Stat(fsys, GatewayDir); err == nil {
		dirs = append(slices.Clip(dirs), GatewayDir)
	}
	set, problems := Load(fsys, dirs...)
	problems = append(problems, set.Admit()...)
	return append(problems, checkRules(fsys, set)...)
}
