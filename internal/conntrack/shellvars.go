package conntrack

import (
	"maps"
	"slices"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/shellvars"
)

// SetShellVars sets each key of want in a shell-variables file
// (iptables-config), in key order. added lists the keys its owner added
// earlier (absent before); it returns the content and the keys added now:
// those of added still wanted, and those absent until this edit. A key no
// longer wanted is left as it is, and no longer counts as added.
func SetShellVars(content []byte, want map[string]string, added []string) ([]byte, []string) {
	f := shellvars.Parse(content)
	added = slices.DeleteFunc(slices.Clone(added), func(key string) bool { _, still := want[key]; return !still })
	for _, key := range slices.Sorted(maps.Keys(want)) {
		if _, had := f.Get(key); !had && !slices.Contains(added, key) {
			added = append(added, key)
		}
		f.Set(key, want[key])
	}
	return f.Bytes(), added
}

// DeleteShellVars removes keys from a shell-variables file.
func DeleteShellVars(content []byte, keys []string) []byte {
	f := shellvars.Parse(content)
	for _, key := range keys {
		f.Delete(key)
	}
	return f.Bytes()
}
