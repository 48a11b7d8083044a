//go:build tools

// Package helm only records, for `go mod tidy`, the command scripts/deps/helm.sh builds with
// `go build -o ~/.cache/lectern-tests/helm/bin/ helm.sh/helm/v4/cmd/helm`; nothing here is compiled.
package helm

import (
	_ "helm.sh/helm/v4/cmd/helm"
)
