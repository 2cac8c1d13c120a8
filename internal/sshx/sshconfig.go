package sshx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"

	"github.com/kevinburke/ssh_config"
	"golang.org/x/crypto/ssh"
)

// SSHConfig applies an OpenSSH client config file's Host blocks to every
// endpoint, as ssh(1) does: HostName, User, Port, IdentityFile, ProxyJump
// and UserKnownHostsFile. Settings given explicitly to the pool win, like
// ssh's command-line options over its config file; the *Set fields say
// which those are.
type SSHConfig struct {
	Path string
	// UserSet, PortSet: Options.User and Options.Port were set explicitly.
	UserSet, PortSet bool
	// KeySet: Options.Credentials carry an explicit private key, so
	// IdentityFile is ignored.
	KeySet bool
	// HostKeysSet: Options.HostKeys were set explicitly (known_hosts file,
	// pinned key or insecure), so UserKnownHostsFile is ignored.
	HostKeysSet bool
	// KnownHostsSet: Options.HostKeys.KnownHostsFile was set explicitly, so
	// it verifies the jump hosts rather than their UserKnownHostsFile.
	KnownHostsSet bool

	cfg    *ssh_config.Config
	mu     sync.Mutex
	routes map[string]*route
}

// route is how one alias is reached: its endpoint, credentials, host-key
// check and jump hosts (in order, the first dialled directly).
type route struct {
	target Endpoint
	auth   *authenticator
	hosts  *verifier
	jumps  []*route
}

// LoadSSHConfig reads and parses an OpenSSH client config file.
func LoadSSHConfig(path string) (*SSHConfig, error) {
	path = ExpandHome(path)
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Op: "open ssh_config_file", Class: ErrConfig, Err: err, Setting: "ssh_config_file"}
	}
	defer f.Close()
	cfg, err := ssh_config.Decode(f)
	if err != nil {
		return nil, &Error{Op: "parse ssh_config_file " + path, Class: ErrConfig, Err: err, Setting: "ssh_config_file"}
	}
	return &SSHConfig{Path: path, cfg: cfg, routes: map[string]*route{}}, nil
}

// HostSettings are what the file's Host blocks say for one alias.
type HostSettings struct {
	HostName, User, ProxyJump     string
	Port                          int
	IdentityFiles, KnownHostsFile []string
}

// Lookup returns the settings for alias, with ssh's %-tokens and ~ expanded
// in file names. Empty fields are not set by the file.
func (c *SSHConfig) Lookup(alias string) (HostSettings, error) {
	var s HostSettings
	var err error
	get := func(key string) string {
		v, e := c.cfg.Get(alias, key)
		err = errors.Join(err, e)
		return v
	}
	s.HostName, s.User, s.ProxyJump = get("HostName"), get("User"), get("ProxyJump")
	if p := get("Port"); p != "" {
		if s.Port, _ = strconv.Atoi(p); s.Port < 1 || s.Port > 65535 {
			err = errors.Join(err, fmt.Errorf("port %q for %s is not a port number", p, alias))
		}
	}
	ids, e := c.cfg.GetAll(alias, "IdentityFile")
	err = errors.Join(err, e)
	kh := get("UserKnownHostsFile")
	if err != nil {
		return s, &Error{Host: alias, Op: "read ssh_config_file " + c.Path, Class: ErrConfig, Err: err, Setting: "ssh_config_file"}
	}
	s.HostName = expandTokens(s.HostName, map[byte]string{'h': alias})
	s.IdentityFiles = ids
	host := s.HostName
	if host == "" {
		host = alias
	}
	for _, f := range strings.Fields(kh) {
		s.KnownHostsFile = append(s.KnownHostsFile, expandTokens(f, map[byte]string{'h': host, 'n': alias}))
	}
	return s, nil
}

// expandTokens expands ~ at the start and ssh's %d (home), %u (local user),
// %% and the given tokens; other tokens stay as written.
func expandTokens(v string, tokens map[byte]string) string {
	v = ExpandHome(v)
	if !strings.Contains(v, "%") {
		return v
	}
	home, _ := os.UserHomeDir()
	local := ""
	if u, err := user.Current(); err == nil {
		local = u.Username
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '%' || i+1 == len(v) {
			b.WriteByte(v[i])
			continue
		}
		i++
		switch t := v[i]; {
		case t == '%':
			b.WriteByte('%')
		case t == 'd':
			b.WriteString(home)
		case t == 'u':
			b.WriteString(local)
		case tokens[t] != "":
			b.WriteString(tokens[t])
		default:
			b.WriteByte('%')
			b.WriteByte(t)
		}
	}
	return b.String()
}

// getConfigured is Get when an ssh_config file is in use.
func (p *Pool) getConfigured(ctx context.Context, e Endpoint) (*Client, error) {
	r, err := p.route(e)
	if err != nil {
		return nil, err
	}
	return p.shared(ctx, r.target.String(), "connect", func() (*Client, error) { return p.dialRoute(ctx, r) })
}

// dialRoute dials r's target through its jump hosts, sharing each hop.
func (p *Pool) dialRoute(ctx context.Context, r *route) (*Client, error) {
	var via *Client
	chain := ""
	for _, j := range r.jumps {
		chain += " " + j.target.String()
		hop, prev := j, via
		c, err := p.shared(ctx, "jump"+chain, "connect to jump host", func() (*Client, error) {
			return p.dialWithRetry(ctx, hop.target, prev, hop.auth, hop.hosts, "jump host ")
		})
		if err != nil {
			return nil, err
		}
		via = c
	}
	return p.dialWithRetry(ctx, r.target, via, r.auth, r.hosts, "")
}

// route resolves e through the file (once per alias, port and user).
func (p *Pool) route(e Endpoint) (*route, error) {
	c := p.opts.SSHConfig
	key := e.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.routes[key]; ok {
		return r, nil
	}
	r, err := p.resolveRoute(e, true)
	if err != nil {
		return nil, err
	}
	c.routes[key] = r
	return r, nil
}

// resolveRoute applies the alias's Host blocks to e. Jump hosts are
// resolved through the file too (their own ProxyJump is not followed: list
// every hop in the target's ProxyJump, as ssh -J a,b does).
func (p *Pool) resolveRoute(e Endpoint, withJumps bool) (*route, error) {
	c := p.opts.SSHConfig
	s, err := c.Lookup(e.Host)
	if err != nil {
		return nil, err
	}
	r := &route{target: e, auth: p.auth, hosts: p.hosts}
	if s.HostName != "" {
		r.target.Host = s.HostName
	}
	switch {
	case e.Port != 0:
	case !c.PortSet && s.Port != 0:
		r.target.Port = s.Port
	default:
		r.target.Port = p.opts.Port
	}
	switch {
	case e.User != "":
	case !c.UserSet && s.User != "":
		r.target.User = s.User
	default:
		r.target.User = p.opts.User
	}
	if !c.KeySet && len(s.IdentityFiles) > 0 {
		if r.auth, err = p.identityAuth(e.Host, s.IdentityFiles, r.target); err != nil {
			return nil, err
		}
	}
	if r.auth == nil {
		return nil, &Error{Host: r.target.String(), Op: "configure credentials", Class: ErrConfig, Setting: "private_key",
			Err:  errors.New("no credentials"),
			Hint: "Set private_key, private_key_file, password or agent, or an IdentityFile for " + e.Host + " in " + c.Path + "."}
	}
	switch {
	case !withJumps:
		if r.hosts, err = p.jumpVerifier(e.Host, s); err != nil {
			return nil, err
		}
	case !c.HostKeysSet && len(s.KnownHostsFile) > 0:
		if r.hosts, err = newVerifier(HostKeys{KnownHostsFile: s.KnownHostsFile[0], AllowSHA1RSA: p.opts.HostKeys.AllowSHA1RSA}); err != nil {
			return nil, fromFile(err, "UserKnownHostsFile of "+e.Host)
		}
	}
	if r.hosts == nil {
		return nil, p.hostsErr
	}
	if p.bastion != nil || !withJumps || s.ProxyJump == "" || strings.EqualFold(s.ProxyJump, "none") {
		if p.bastion != nil {
			r.jumps = []*route{{target: Endpoint{Host: p.bastion.Host, Port: p.bastion.Port, User: p.bastion.User}, auth: p.bastion.auth, hosts: p.bastion.hosts}}
		}
		return r, nil
	}
	for _, j := range strings.Split(s.ProxyJump, ",") {
		je, err := parseJump(strings.TrimSpace(j))
		if err != nil {
			return nil, &Error{Host: e.Host, Op: "read ssh_config_file " + c.Path, Class: ErrConfig, Err: err, Setting: "ssh_config_file"}
		}
		jr, err := p.resolveRoute(je, false)
		if err != nil {
			return nil, err
		}
		r.jumps = append(r.jumps, jr)
	}
	return r, nil
}

// jumpVerifier verifies a ProxyJump hop as the bastion is verified: against
// a known_hosts file (the provider's known_hosts_file when set explicitly,
// else the hop's own UserKnownHostsFile, else the provider's default one),
// never by the targets' pinned host_key or insecure_ignore_host_key (issue
// #24: the hop used to get the target's check, so insecure mode reached it).
func (p *Pool) jumpVerifier(alias string, s HostSettings) (*verifier, error) {
	if !p.opts.SSHConfig.KnownHostsSet && len(s.KnownHostsFile) > 0 {
		v, err := newVerifier(HostKeys{KnownHostsFile: s.KnownHostsFile[0], AllowSHA1RSA: p.opts.HostKeys.AllowSHA1RSA})
		if err != nil {
			return nil, fromFile(err, "UserKnownHostsFile of jump host "+alias)
		}
		return v, nil
	}
	v, err := newVerifier(HostKeys{KnownHostsFile: p.opts.HostKeys.KnownHostsFile, AllowSHA1RSA: p.opts.HostKeys.AllowSHA1RSA})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Op += " (for jump host " + alias + ")"
		}
		return nil, err
	}
	return v, nil
}

// parseJump parses one ProxyJump hop: [user@]host[:port] or ssh://[user@]host[:port].
func parseJump(s string) (Endpoint, error) {
	var e Endpoint
	s = strings.TrimPrefix(s, "ssh://")
	if i := strings.LastIndex(s, "@"); i >= 0 {
		e.User, s = s[:i], s[i+1:]
	}
	e.Host = s
	if h, port, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return e, fmt.Errorf("ProxyJump %q: bad port", s)
		}
		e.Host, e.Port = h, n
	}
	if e.Host == "" {
		return e, fmt.Errorf("ProxyJump %q names no host", s)
	}
	return e, nil
}

// identityAuth logs in with the alias's IdentityFiles (those that exist,
// as ssh skips missing ones), then whatever else the pool has (agent,
// password). Encrypted keys use the pool's passphrase.
func (p *Pool) identityAuth(alias string, files []string, target Endpoint) (*authenticator, error) {
	var signers []ssh.Signer
	for _, f := range files {
		path := expandTokens(f, map[byte]string{'h': target.Host, 'n': alias, 'r': target.User, 'p': strconv.Itoa(target.Port)})
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, &Error{Host: alias, Op: "read IdentityFile " + path, Class: ErrConfig, Err: err, Setting: "ssh_config_file"}
		}
		signer, err := parsePrivateKey(b, p.opts.Credentials.Passphrase)
		if err != nil {
			return nil, fromFile(err, "IdentityFile "+path)
		}
		signers = append(signers, signer)
	}
	a := &authenticator{}
	if len(signers) > 0 {
		a.methods = append(a.methods, ssh.PublicKeys(signers...))
	}
	if p.auth != nil {
		a.methods = append(a.methods, p.auth.methods...)
	}
	if len(a.methods) == 0 {
		return nil, nil
	}
	return a, nil
}

// fromFile blames the ssh_config file for an error about a value it gave.
func fromFile(err error, what string) error {
	var e *Error
	if errors.As(err, &e) {
		e.Setting, e.Op = "ssh_config_file", e.Op+" ("+what+" in ssh_config_file)"
	}
	return err
}
