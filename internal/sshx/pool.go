// Package sshx is the provider's SSH transport: authentication, host-key
// verification, a bastion hop, sudo, and a pool that shares one connection
// per host among every resource of a provider process. It knows nothing of
// Terraform.
package sshx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sync/singleflight"
)

// Endpoint is a host to log in to. Zero fields take the pool's defaults.
type Endpoint struct {
	Host string
	Port int
	User string
}

// Address is host:port.
func (e Endpoint) Address() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

func (e Endpoint) String() string { return e.User + "@" + e.Address() }

// Bastion is the jump host every target is reached through.
type Bastion struct {
	Endpoint
	Credentials Credentials
	HostKeys    HostKeys
}

// Options configure a Pool.
type Options struct {
	User        string // default user (root)
	Port        int    // default port (22)
	Credentials Credentials
	HostKeys    HostKeys
	Bastion     *Bastion
	// Sudo runs privileged commands through `sudo -n` when the user is not root.
	Sudo               bool
	ConnectTimeout     time.Duration
	CommandTimeout     time.Duration
	MaxSessionsPerHost int
	// KeepAliveInterval and KeepAliveTimeout: a keepalive every interval,
	// and a connection whose keepalive gets no reply within the timeout is
	// broken (defaults 30s and 15s).
	KeepAliveInterval time.Duration
	KeepAliveTimeout  time.Duration
	// SFTPServer is the remote sftp-server program to run through sudo (or
	// instead of the sftp subsystem); empty finds it from sshd_config or the
	// usual locations.
	SFTPServer string
	// Backup allows writes to keep backups of the files they replace
	// (provider `backup`, default off).
	Backup bool
	// LockOwner describes this process in the host lock's holder record
	// (default: program, pid and machine).
	LockOwner string
	// KnownHostsDefaulted says HostKeys.KnownHostsFile is the default path,
	// not a choice: if it is missing, that fails at the first dial.
	KnownHostsDefaulted bool
	// SSHConfig, when set, applies an OpenSSH client config file's Host
	// blocks per endpoint (sshconfig.go).
	SSHConfig *SSHConfig
	// Trace, when set, is told of every remote command before it runs
	// (for logs and the benchmark's commands-per-read count).
	Trace func(ctx context.Context, e Endpoint, op string)
}

// Pool keeps one SSH connection per endpoint, dialled on first use and
// shared by every caller until Close.
type Pool struct {
	opts    Options
	auth    *authenticator
	hosts   *verifier
	bastion *bastionHop
	// hostsErr is why hosts is nil (an ssh_config file may still verify);
	// authErr why auth is nil (no credentials given).
	hostsErr, authErr error

	mu      sync.Mutex
	clients map[string]*Client
	// dialing makes concurrent first uses of a host wait for one dial; a
	// failed dial is shared with those already waiting, not cached.
	dialing singleflight.Group

	// Dials counts the SSH logins made (targets and bastion); tests and the
	// benchmark read it.
	dials int64
}

type bastionHop struct {
	Bastion
	auth  *authenticator
	hosts *verifier
}

// NewPool checks the options and parses keys; it contacts no host.
func NewPool(opts Options) (*Pool, error) {
	if opts.User == "" {
		opts.User = "root"
	}
	if opts.Port == 0 {
		opts.Port = 22
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 30 * time.Second
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 5 * time.Minute
	}
	if opts.KeepAliveInterval <= 0 {
		opts.KeepAliveInterval = defaultKeepAliveInterval
	}
	if opts.KeepAliveTimeout <= 0 {
		opts.KeepAliveTimeout = defaultKeepAliveTimeout
	}
	if opts.MaxSessionsPerHost <= 0 {
		opts.MaxSessionsPerHost = 8
	}
	p := &Pool{opts: opts, clients: map[string]*Client{}}
	var err error
	if p.auth, err = newAuthenticator(opts.Credentials); err != nil {
		// No credentials at all fails when a host is dialled, not here: a
		// configuration may use only the provider's functions (OpenTofu
		// configures the provider for them too), and with an ssh_config file
		// hosts may get their keys from IdentityFile.
		c := opts.Credentials
		if len(c.PrivateKey) > 0 || c.Password != "" || c.AgentSocket != "" {
			return nil, err
		}
		p.auth, p.authErr = nil, err
	}
	if p.hosts, err = newVerifier(opts.HostKeys); err != nil {
		// A missing default known_hosts file fails when a host is dialled,
		// for the same reasons as missing credentials (an ssh_config file may
		// also name a UserKnownHostsFile); a chosen one fails here.
		deferred := opts.KnownHostsDefaulted || (opts.SSHConfig != nil && !opts.SSHConfig.HostKeysSet)
		if !errors.Is(err, ErrHostKey) || !deferred {
			p.Close()
			return nil, err
		}
		p.hosts, p.hostsErr = nil, err
	}
	if b := opts.Bastion; b != nil {
		hop := &bastionHop{Bastion: *b}
		if hop.Port == 0 {
			hop.Port = 22
		}
		if hop.User == "" {
			hop.User = opts.User
		}
		if hop.auth, err = newAuthenticator(b.Credentials); err == nil {
			hop.hosts, err = newVerifier(b.HostKeys)
		}
		if err != nil {
			p.Close()
			return nil, blame(err, "bastion.")
		}
		p.bastion = hop
	}
	return p, nil
}

// Resolve fills an endpoint's empty fields from the pool's defaults.
func (p *Pool) Resolve(e Endpoint) Endpoint {
	if e.Port == 0 {
		e.Port = p.opts.Port
	}
	if e.User == "" {
		e.User = p.opts.User
	}
	return e
}

// Get returns the shared client for e, connecting on first use.
func (p *Pool) Get(ctx context.Context, e Endpoint) (*Client, error) {
	if p.opts.SSHConfig != nil {
		return p.getConfigured(ctx, e)
	}
	e = p.Resolve(e)
	return p.shared(ctx, e.String(), "connect", func() (*Client, error) { return p.dialTarget(ctx, e) })
}

// DialFresh opens a new connection to e that is not shared; the caller
// closes it. The lock-out check uses it to prove that a new login still
// works after a firewall change (the shared connection may survive a rule
// that blocks new ones).
func (p *Pool) DialFresh(ctx context.Context, e Endpoint) (*Client, error) {
	if p.opts.SSHConfig != nil {
		r, err := p.route(e)
		if err != nil {
			return nil, err
		}
		return p.dialRoute(ctx, r)
	}
	return p.dialTarget(ctx, p.Resolve(e))
}

// shared returns the client under key, dialling it once however many
// callers ask at the same time. A failed dial is shared with the callers
// already waiting; a later caller, or one that finds the connection broken,
// dials afresh.
func (p *Pool) shared(ctx context.Context, key, op string, dial func() (*Client, error)) (*Client, error) {
	p.mu.Lock()
	c := p.clients[key]
	if c != nil && c.Broken() {
		c.Close()
		delete(p.clients, key)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		return c, nil
	}
	result := p.dialing.DoChan(key, func() (any, error) {
		c, err := dial()
		if err != nil {
			return nil, err
		}
		p.mu.Lock()
		p.clients[key] = c
		p.mu.Unlock()
		return c, nil
	})
	select {
	case r := <-result:
		if r.Err != nil {
			return nil, r.Err
		}
		c, _ := r.Val.(*Client) // the only value the dial returns
		return c, nil
	case <-ctx.Done():
		return nil, &Error{Host: key, Op: op, Class: ErrTimeout, Err: ctx.Err()}
	}
}

// Dials is the number of SSH logins this pool has made.
func (p *Pool) Dials() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dials
}

// Close closes every connection.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for key, c := range p.clients {
		errs = append(errs, c.Close())
		delete(p.clients, key)
	}
	if p.auth != nil {
		p.auth.close()
	}
	if p.bastion != nil && p.bastion.auth != nil {
		p.bastion.auth.close()
	}
	return errors.Join(errs...)
}

func (p *Pool) dialTarget(ctx context.Context, e Endpoint) (*Client, error) {
	if p.auth == nil {
		return nil, p.authErr
	}
	if p.hosts == nil {
		return nil, p.hostsErr
	}
	var via *Client
	if hop := p.bastion; hop != nil {
		b := Endpoint{Host: hop.Host, Port: hop.Port, User: hop.User}
		var err error
		via, err = p.shared(ctx, "bastion "+b.String(), "connect to bastion", func() (*Client, error) {
			return p.dialWithRetry(ctx, b, nil, hop.auth, hop.hosts, "bastion ")
		})
		if err != nil {
			return nil, err
		}
	}
	return p.dialWithRetry(ctx, e, via, p.auth, p.hosts, "")
}

// dialWithRetry retries network failures with capped exponential backoff
// until connect_timeout; authentication and host-key failures return at once.
func (p *Pool) dialWithRetry(ctx context.Context, e Endpoint, via *Client, auth *authenticator, hosts *verifier, role string) (*Client, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.ConnectTimeout)
	defer cancel()
	backoff := 200 * time.Millisecond
	for {
		c, err := p.dialOnce(ctx, e, via, auth, hosts)
		if err == nil {
			return c, nil
		}
		var te *Error
		if errors.As(err, &te) && te.Class != ErrUnreachable {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, &Error{Host: e.String(), Op: role + "connect", Class: ErrUnreachable,
				Err:  fmt.Errorf("no SSH connection within connect_timeout %s: %w", p.opts.ConnectTimeout, te.Err),
				Hint: "Check that the host is up, that sshd listens on " + e.Address() + " and that no firewall drops the connection; raise connect_timeout for slow networks."}
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

func (p *Pool) dialOnce(ctx context.Context, e Endpoint, via *Client, auth *authenticator, hosts *verifier) (*Client, error) {
	fail := func(class error, err error, hint string) (*Client, error) {
		return nil, &Error{Host: e.String(), Op: "connect", Class: class, Err: err, Hint: hint}
	}
	var conn net.Conn
	var err error
	if via != nil {
		conn, err = via.conn.DialContext(ctx, "tcp", e.Address())
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", e.Address())
	}
	if err != nil {
		return fail(ErrUnreachable, fmt.Errorf("dial: %w", err), "")
	}
	check, refusal := hosts.callback()
	cfg := &ssh.ClientConfig{
		User:              e.User,
		Auth:              auth.methods,
		HostKeyCallback:   check,
		HostKeyAlgorithms: hosts.algorithms(e.Address()),
	}
	// The handshake ignores contexts: closing the connection unblocks it.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sshConn, chans, reqs, err := ssh.NewClientConn(conn, e.Address(), cfg)
	if !stop() {
		if err == nil {
			sshConn.Close()
		}
		return fail(ErrUnreachable, fmt.Errorf("handshake: %w", ctx.Err()), "")
	}
	if err != nil {
		conn.Close()
		switch {
		case refusal.Reason != "":
			return fail(ErrHostKey, refusal, hostKeyHint(e, refusal))
		case containsAny(err.Error(), "no common algorithm for host key"):
			return fail(ErrHostKey, fmt.Errorf("the host offers no host key algorithm this provider accepts: %w", err),
				"A host that offers only ssh-rsa signs its host key with SHA-1, which OpenSSH refuses by default since 8.8 and so does this provider: "+
					"upgrade its OpenSSH (7.2 or later signs RSA keys with rsa-sha2-256/512), give it an ed25519 or ECDSA host key, "+
					"or, knowing the risk, set insecure_allow_ssh_rsa_sha1 = true. Otherwise the host's key types differ from those known_hosts or host_key name for it.")
		case isAuthError(err):
			return fail(ErrAuth, errors.New("the server accepted none of the offered credentials"),
				fmt.Sprintf("Check that user %q may log in to %s with the configured private key, agent or password.", e.User, e.Host))
		default:
			return fail(ErrUnreachable, fmt.Errorf("handshake: %w", err), "")
		}
	}
	p.mu.Lock()
	p.dials++
	p.mu.Unlock()
	return newClient(e, ssh.NewClient(sshConn, chans, reqs), p.opts), nil
}

func hostKeyHint(e Endpoint, r *HostKeyError) string {
	if r.Reason == "mismatch" {
		return fmt.Sprintf("If %s was really reinstalled, verify its new key out of band, then update the entry; otherwise do not connect.", e.Host)
	}
	return fmt.Sprintf("Verify the fingerprint %s on the host (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), then add its key to %s (ssh-keyscan -p %d %s >> %s) or pin it with host_key.",
		r.Fingerprint, r.Source, e.Port, e.Host, r.Source)
}

func isAuthError(err error) bool {
	var se *ssh.ServerAuthError
	if errors.As(err, &se) {
		return true
	}
	msg := err.Error()
	return containsAny(msg, "unable to authenticate", "no supported methods remain")
}
