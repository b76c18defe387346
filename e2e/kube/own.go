package main

import (
	"fmt"
	"os"

	"runnel.dev/e2e/kube/internal/cluster"
	"runnel.dev/e2e/kube/internal/containerinit"
	"runnel.dev/e2e/kube/internal/httpd"
)

// runOwn dispatches to the components written for Runnel's test cluster.
func runOwn(name string, args []string) int {
	switch name {
	case "cluster":
		return cluster.Main(args)
	case "container-init":
		return containerinit.Main(args)
	case "httpd":
		return httpd.Main(args)
	}
	fmt.Fprintf(os.Stderr, "unknown component %q\n%s\n", name, usage)
	return 2
}
