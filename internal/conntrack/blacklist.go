package conntrack

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/conffile/modprobe"
)

// DisabledCommand is the install command that makes every load of a
// module fail.
const DisabledCommand = "/bin/false"

// Blacklist is what one conntrack_module_blacklist owns in its file.
type Blacklist struct {
	Modules []string
	// Disable also writes `install MODULE /bin/false`.
	Disable bool
}

// EditBlacklist replaces prior's lines with plan's (either may be nil) in
// a modprobe.d file. Only install lines that say /bin/false are the
// resource's to remove. The lines of a module both list stay where they
// are, so the result does not depend on where earlier applies put them.
func EditBlacklist(content []byte, plan, prior *Blacklist) []byte {
	f := modprobe.Parse(content)
	if prior != nil {
		for _, mod := range prior.Modules {
			stays := plan != nil && slices.Contains(plan.Modules, mod)
			if !stays {
				f.SetBlacklist(mod, false)
			}
			if cmd, ok := f.Install(mod); ok && cmd == DisabledCommand && (!stays || !plan.Disable) {
				f.DeleteInstall(mod)
			}
		}
	}
	if plan != nil {
		for _, mod := range plan.Modules {
			f.SetBlacklist(mod, true)
			if plan.Disable {
				f.SetInstall(mod, DisabledCommand)
			}
		}
	}
	return f.Bytes()
}

// Builtins are the modules of the list that are built into the kernel.
func (h ModuleHost) Builtins(modules []string) []string {
	var out []string
	for _, mod := range modules {
		if h.Kind[mod] == "builtin" {
			out = append(out, mod)
		}
	}
	return out
}

// IsLoaded reports whether /proc/modules lists mod.
func (h ModuleHost) IsLoaded(mod string) bool {
	_, ok := h.Loaded[mod]
	return ok
}

// InitramfsBuild records the file, and the SHA-256 of its content, that
// an initramfs was rebuilt from.
type InitramfsBuild struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
}

// BuildOf is the record of an initramfs built from file with content.
func BuildOf(file string, content []byte) InitramfsBuild {
	sum := sha256.Sum256(content)
	return InitramfsBuild{File: file, SHA256: hex.EncodeToString(sum[:])}
}

// RebuildInitramfsScript regenerates the initramfs with the tool the
// distribution has.
const RebuildInitramfsScript = `if command -v update-initramfs >/dev/null; then exec update-initramfs -u
elif command -v dracut >/dev/null; then exec dracut -f
else echo "neither update-initramfs nor dracut is installed" >&2; exit 1; fi`
