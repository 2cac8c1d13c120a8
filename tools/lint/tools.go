//go:build tools

// Package lint pins golangci-lint, the linter `make lint` runs. It has a
// module of its own so that golangci-lint is built with exactly the
// dependency versions it was released with (see DECISIONS.md).
package lint

import (
	_ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
)
