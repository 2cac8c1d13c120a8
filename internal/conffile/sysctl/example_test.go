package sysctl_test

import (
	"fmt"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/sysctl"
)

func Example() {
	f := sysctl.Parse([]byte("# tuning\r\nnet/netfilter/nf_conntrack_max=65536\r\nkernel.panic = 10\r\nnet.netfilter.nf_conntrack_max = 1\r\n"))

	// Validate at plan time; Set assumes valid input.
	if err := sysctl.ValidKey("net.netfilter.nf_conntrack_max"); err != nil {
		panic(err)
	}
	f.Set("net.netfilter.nf_conntrack_max", "262144") // first line rewritten in its style, duplicate removed
	f.Set("net.netfilter.nf_conntrack_buckets", "65536")
	v, _ := f.Get("net/netfilter/nf_conntrack_max")
	fmt.Println(v)
	fmt.Printf("%q\n", f.Bytes())
	// Output:
	// 262144
	// "# tuning\r\nnet/netfilter/nf_conntrack_max=262144\r\nkernel.panic = 10\r\nnet.netfilter.nf_conntrack_buckets = 65536\r\n"
}
