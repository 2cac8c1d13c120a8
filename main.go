package main

import (
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6/tf6server"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/provider"
)

// version is set by goreleaser (-X main.version=...).
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers like delve")
	flag.Parse()

	// What providerserver.Serve does, with the server of provider.NewServer:
	// the framework's, whose RPCs let go of their contexts (DECISIONS.md,
	// Memory).
	var opts []tf6server.ServeOpt
	if debug {
		opts = append(opts, tf6server.WithManagedDebug())
	}
	server := provider.NewServer(version)
	err := tf6server.Serve("registry.terraform.io/conntrack-ops/conntrack", func() tfprotov6.ProviderServer {
		s, err := server()
		if err != nil {
			log.Fatal(err.Error())
		}
		return s
	}, opts...)
	if err != nil {
		log.Fatal(err.Error())
	}
}
