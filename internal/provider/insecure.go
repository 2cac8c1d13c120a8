package provider

import (
	"fmt"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/diag"
)

// insecureHosts remembers which hosts were already warned about under
// insecure_ignore_host_key, so each host gets one warning per plan or apply
// (the first resource or data source that uses it), naming it.
type insecureHosts struct {
	on   bool
	mu   sync.Mutex
	seen map[string]bool
}

func newInsecureHosts(on bool) *insecureHosts {
	return &insecureHosts{on: on, seen: map[string]bool{}}
}

// warn adds the warning for address (host:port) the first time it is used.
func (w *insecureHosts) warn(address string, diags *diag.Diagnostics) {
	if w == nil || !w.on {
		return
	}
	w.mu.Lock()
	first := !w.seen[address]
	w.seen[address] = true
	w.mu.Unlock()
	if first {
		diags.AddWarning(fmt.Sprintf("Host key of %s not verified (insecure_ignore_host_key)", address),
			fmt.Sprintf("The conntrack provider sets insecure_ignore_host_key = true, so it accepted whatever key %s presented: anyone on the "+
				"network path could have answered in its place and received the commands and files of this run. Pin host_key or use "+
				"known_hosts_file, and remove insecure_ignore_host_key. (A bastion's key is still verified.)", address))
	}
}
