//go:build tools

// Package controlplane only records, for `go mod tidy`, the commands scripts/kube-testbed.sh builds
// with `go build -o .cache/kube/bin/ <package>`; nothing here is compiled.
package controlplane

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
