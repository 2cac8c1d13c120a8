package main

// Documentation under docs/ is generated from the provider schema and the
// files under examples/. Regenerate it from the repository root with
//
//	go generate .
//
// tfplugindocs is pinned in tools/go.mod; it builds the provider and calls
// the terraform binary found on PATH to read the schema.

//go:generate terraform fmt -recursive ./examples/
//go:generate go run -modfile=tools/go.mod github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs generate --provider-name conntrack
