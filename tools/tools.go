//go:build tools

// Package tools pins the versions of the command-line tools used to build
// this provider's documentation. It is never compiled into the provider;
// the root docs.go runs them with `go run -modfile=tools/go.mod`.
package tools

import (
	_ "github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs"
)
