package shellvars_test

import (
	"fmt"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/shellvars"
)

func Example() {
	f := shellvars.Parse([]byte("#IPTABLES_MODULES=\"ip_nat_ftp\"\r\nIPTABLES_MODULES='' # helpers\r\nIPTABLES_SAVE_ON_STOP=no\r\nIPTABLES_MODULES=\"x\"\r\n"))

	// Validate at plan time; Set leaves the file alone given invalid input.
	if err := shellvars.ValidValue("nf_conntrack nf_nat_ftp"); err != nil {
		panic(err)
	}
	f.Set("IPTABLES_MODULES", "nf_conntrack nf_nat_ftp") // first assignment rewritten in its style, duplicate removed
	f.Set("IPTABLES_SAVE_ON_STOP", "yes")                // bare stays bare
	f.Set("IPTABLES_SAVE_COUNTER", "no")                 // appended
	v, _ := f.Get("IPTABLES_MODULES")
	fmt.Println(v)
	fmt.Printf("%q\n", f.Bytes())
	// Output:
	// nf_conntrack nf_nat_ftp
	// "#IPTABLES_MODULES=\"ip_nat_ftp\"\r\nIPTABLES_MODULES='nf_conntrack nf_nat_ftp' # helpers\r\nIPTABLES_SAVE_ON_STOP=yes\r\nIPTABLES_SAVE_COUNTER=\"no\"\r\n"
}
