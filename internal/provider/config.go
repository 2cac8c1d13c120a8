package provider

import (
	"fmt"
	"os"
	"strconv"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
)

// Environment variables read when the provider block leaves a value unset.
const (
	envUser           = "CONNTRACK_SSH_USER"
	envPort           = "CONNTRACK_SSH_PORT"
	envPrivateKey     = "CONNTRACK_SSH_PRIVATE_KEY"
	envPrivateKeyFile = "CONNTRACK_SSH_PRIVATE_KEY_FILE"
	envPassphrase     = "CONNTRACK_SSH_PRIVATE_KEY_PASSPHRASE"
	envPassword       = "CONNTRACK_SSH_PASSWORD"
	envAgent          = "CONNTRACK_SSH_AGENT"
	envKnownHosts     = "CONNTRACK_SSH_KNOWN_HOSTS_FILE"
	envHostKey        = "CONNTRACK_SSH_HOST_KEY"
	envSudo           = "CONNTRACK_SSH_SUDO"
	envConnectTimeout = "CONNTRACK_SSH_CONNECT_TIMEOUT"
)

func envDoc(text, env string) string {
	return fmt.Sprintf("%s Can also be set with the `%s` environment variable.", text, env)
}

// buildOptions turns the provider block (plus environment) into transport
// options, reporting bad values against their attribute.
func buildOptions(cfg providerModel, diags *diag.Diagnostics) sshx.Options {
	for name, v := range map[string]interface{ IsUnknown() bool }{
		"private_key": cfg.PrivateKey, "password": cfg.Password, "private_key_file": cfg.PrivateKeyFile,
		"user": cfg.User, "host_key": cfg.HostKey, "known_hosts_file": cfg.KnownHostsFile,
	} {
		if v.IsUnknown() {
			diags.AddAttributeError(path.Root(name), "Provider setting not known yet",
				"The conntrack provider connects to hosts while planning, so "+name+" must be known at plan time, not computed by another resource in the same run.")
		}
	}
	port := int(intOr(cfg.Port, envPort, defaultPort, diags, path.Root("port")))
	opts := sshx.Options{
		User:               stringOr(cfg.User, envUser, defaultUser),
		Port:               port,
		Sudo:               boolOr(cfg.Sudo, envSudo, false, diags, path.Root("sudo")),
		ConnectTimeout:     durationOr(cfg.ConnectTimeout, envConnectTimeout, defaultConnectTimeout),
		CommandTimeout:     durationOr(cfg.CommandTimeout, "", defaultCommandTimeout),
		MaxSessionsPerHost: int(intOr(cfg.MaxSessionsPerHost, "", defaultMaxSessions, diags, path.Root("max_sessions_per_host"))),
		Backup:             cfg.Backup.ValueBool(),
		SFTPServer:         cfg.SFTPServer.ValueString(),
		Credentials: credentials(credentialInputs{
			key: stringOr(cfg.PrivateKey, envPrivateKey, ""), keyFile: stringOr(cfg.PrivateKeyFile, envPrivateKeyFile, ""),
			passphrase: stringOr(cfg.PrivateKeyPassphrase, envPassphrase, ""), password: stringOr(cfg.Password, envPassword, ""),
			agent: cfg.Agent, agentEnv: envAgent,
		}, path.Root("private_key_file"), diags),
		HostKeys: sshx.HostKeys{
			KnownHostsFile: stringOr(cfg.KnownHostsFile, envKnownHosts, defaultKnownHostsFile),
			Pinned:         stringOr(cfg.HostKey, envHostKey, ""),
			InsecureIgnore: cfg.InsecureIgnoreHostKey.ValueBool(),
			AllowSHA1RSA:   cfg.InsecureAllowSSHRSA.ValueBool(),
		},
	}
	if b := cfg.Bastion; b != nil {
		if b.Host.IsNull() || b.Host.ValueString() == "" {
			diags.AddAttributeError(path.Root("bastion").AtName("host"), "Missing bastion host", "A bastion block needs host.")
			return opts
		}
		opts.Bastion = &sshx.Bastion{
			Endpoint: sshx.Endpoint{Host: b.Host.ValueString(), Port: int(b.Port.ValueInt64()), User: b.User.ValueString()},
			Credentials: credentials(credentialInputs{
				key: b.PrivateKey.ValueString(), keyFile: b.PrivateKeyFile.ValueString(),
				passphrase: b.PrivateKeyPassphrase.ValueString(), password: b.Password.ValueString(), agent: b.Agent,
			}, path.Root("bastion").AtName("private_key_file"), diags),
			HostKeys: sshx.HostKeys{
				KnownHostsFile: stringOr(b.KnownHostsFile, "", opts.HostKeys.KnownHostsFile),
				Pinned:         b.HostKey.ValueString(),
				// insecure_ignore_host_key is the targets' setting only: the
				// bastion's key is always verified (issue #12).
				InsecureIgnore: false,
				// An algorithm policy, not a skipped check: every hop.
				AllowSHA1RSA: opts.HostKeys.AllowSHA1RSA,
			},
		}
	}
	return opts
}

type credentialInputs struct {
	key, keyFile, passphrase, password string
	agent                              types.Bool
	agentEnv                           string
}

func credentials(in credentialInputs, keyFilePath path.Path, diags *diag.Diagnostics) sshx.Credentials {
	c := sshx.Credentials{PrivateKey: []byte(in.key), Passphrase: []byte(in.passphrase), Password: in.password}
	if in.keyFile != "" && in.key == "" {
		b, err := sshx.ReadKeyFile(in.keyFile)
		if err != nil {
			diags.AddAttributeError(keyFilePath, "Cannot read private key file", err.Error())
		}
		c.PrivateKey = b
	}
	// The agent is used when asked for, or by default when nothing else is set.
	useAgent := len(c.PrivateKey) == 0 && c.Password == ""
	if !in.agent.IsNull() {
		useAgent = in.agent.ValueBool()
	} else if v := os.Getenv(in.agentEnv); in.agentEnv != "" && v != "" {
		useAgent, _ = strconv.ParseBool(v)
	}
	if useAgent {
		c.AgentSocket = os.Getenv("SSH_AUTH_SOCK")
	}
	return c
}

func intOr(v types.Int64, env string, def int64, diags *diag.Diagnostics, p path.Path) int64 {
	if !v.IsNull() && !v.IsUnknown() {
		return v.ValueInt64()
	}
	if e := os.Getenv(env); env != "" && e != "" {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil {
			diags.AddAttributeError(p, "Invalid environment variable", fmt.Sprintf("%s=%q is not a number.", env, e))
		}
		return n
	}
	return def
}

func boolOr(v types.Bool, env string, def bool, diags *diag.Diagnostics, p path.Path) bool {
	if !v.IsNull() && !v.IsUnknown() {
		return v.ValueBool()
	}
	if e := os.Getenv(env); env != "" && e != "" {
		b, err := strconv.ParseBool(e)
		if err != nil {
			diags.AddAttributeError(p, "Invalid environment variable", fmt.Sprintf("%s=%q is not true or false.", env, e))
		}
		return b
	}
	return def
}
