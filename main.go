package main

import (
	"flag"
	"log"
	"os"
	rtdebug "runtime/debug"

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

	// Half Go's default collector headroom, unless the user chose one: the
	// provider's live heap is mostly per host (DECISIONS.md, Memory), and
	// at 500 hosts the default's headroom took the peak past 100 MB.
	if os.Getenv("GOGC") == "" {
		rtdebug.SetGCPercent(50)
	}

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
