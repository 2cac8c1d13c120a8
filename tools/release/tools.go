//go:build tools

// Package release pins goreleaser, whose `goreleaser check` `make lint` runs
// on .goreleaser.yml. It has a module of its own so that goreleaser is built
// with exactly the dependency versions it was released with (see
// DECISIONS.md).
package release

import (
	_ "github.com/goreleaser/goreleaser/v2"
)
