package provider

import (
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
)

// detail is a diagnostic detail for a transport error: what happened, then
// what to do. Transport errors never carry secrets.
func detail(err error) string {
	if hint := sshx.HintOf(err); hint != "" {
		return err.Error() + "\n\n" + hint
	}
	return err.Error()
}

// settingPath points a provider-settings error at the attribute at fault
// ("bastion.private_key" -> bastion.private_key); empty means the block.
// Secrets get no path: Terraform would print their source line, and with it
// a key or password written literally in the configuration.
func settingPath(err error) path.Path {
	setting := sshx.SettingOf(err)
	if setting == "" || secretSettings[setting[strings.LastIndex(setting, ".")+1:]] {
		return path.Empty()
	}
	parts := strings.Split(setting, ".")
	p := path.Root(parts[0])
	for _, name := range parts[1:] {
		p = p.AtName(name)
	}
	return p
}

var secretSettings = map[string]bool{"private_key": true, "private_key_passphrase": true, "password": true}
