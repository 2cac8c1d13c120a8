package provider

import (
	"os"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
)

const envSSHConfigFile = "CONNTRACK_SSH_CONFIG_FILE"

// sshConfigFileAttribute is the provider's opt-in ssh_config_file setting.
func sshConfigFileAttribute() schema.Attribute {
	return schema.StringAttribute{Optional: true, Validators: []validator.String{pathValidator(localFileRule)},
		MarkdownDescription: envDoc("Apply this OpenSSH client config file (such as `~/.ssh/config`) the way ssh(1) does: for the `Host` blocks "+
			"that match a resource's `host`, use their `HostName`, `User`, `Port`, `IdentityFile` (tried before the agent and password), "+
			"`ProxyJump` (as the bastion, hop by hop; the jump hosts' own blocks apply too, except their ProxyJump; each jump host's key is verified as the bastion's is, "+
			"against `known_hosts_file` when set, else the jump host's `UserKnownHostsFile`, else `"+defaultKnownHostsFile+"`, never by `host_key` or `insecure_ignore_host_key`) and `UserKnownHostsFile` (the first file it lists). "+
			"Settings in HCL (or their environment variables) win: a resource's `port` and `user`, and the provider's `user`, `port`, "+
			"`private_key(_file)`, `known_hosts_file`/`host_key`/`insecure_ignore_host_key` and `bastion`. "+
			"Other keywords are ignored. Off by default: nothing reads `~/.ssh/config` unless asked."+localPathDoc, envSSHConfigFile)}
}

// knownHostsDefaulted says no setting chose how host keys are verified, so
// a missing ~/.ssh/known_hosts fails at the first dial, not in Configure:
// a configuration may only call the functions (OpenTofu configures the
// provider for them too).
func knownHostsDefaulted(cfg providerModel) bool {
	return cfg.KnownHostsFile.IsNull() && os.Getenv(envKnownHosts) == "" && cfg.HostKey.IsNull() && os.Getenv(envHostKey) == "" &&
		!cfg.InsecureIgnoreHostKey.ValueBool()
}

// sshConfigOption loads the ssh_config file, if one is set, recording which
// settings the configuration gives explicitly (those win over the file).
func sshConfigOption(cfg providerModel, diags *diag.Diagnostics) *sshx.SSHConfig {
	if cfg.SSHConfigFile.IsUnknown() {
		diags.AddAttributeError(path.Root("ssh_config_file"), "Provider setting not known yet",
			"The conntrack provider connects to hosts while planning, so ssh_config_file must be known at plan time.")
		return nil
	}
	file := stringOr(cfg.SSHConfigFile, envSSHConfigFile, "")
	if file == "" {
		return nil
	}
	c, err := sshx.LoadSSHConfig(file)
	if err != nil {
		diags.AddAttributeError(path.Root("ssh_config_file"), "Cannot read ssh_config_file", detail(err))
		return nil
	}
	set := func(v types.String, env string) bool { return !v.IsNull() || os.Getenv(env) != "" }
	c.UserSet = set(cfg.User, envUser)
	c.PortSet = !cfg.Port.IsNull() || os.Getenv(envPort) != ""
	c.KeySet = set(cfg.PrivateKey, envPrivateKey) || set(cfg.PrivateKeyFile, envPrivateKeyFile)
	c.HostKeysSet = set(cfg.KnownHostsFile, envKnownHosts) || set(cfg.HostKey, envHostKey) || cfg.InsecureIgnoreHostKey.ValueBool()
	c.KnownHostsSet = set(cfg.KnownHostsFile, envKnownHosts)
	return c
}
