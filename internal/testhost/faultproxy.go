package testhost

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// FaultProxy is a TCP forwarder between a client (the provider) and a test
// host's sshd that injects the faults a real network or a killed process
// causes (DESIGN.md section 5, "Faults"): it cuts connections after a given
// number of client-to-server bytes, stalls them (a half-open connection:
// nothing moves, nothing closes) or slows them. Faults apply to every
// connection through the proxy. Point the client at Host and Port, and
// verify the host key by pinning it (the proxy's address is not in any
// known_hosts file).
type FaultProxy struct {
	Host   string
	Port   int
	target string
	ln     net.Listener

	mu      sync.Mutex
	sent    int64         // client-to-server bytes forwarded, all connections
	cutAt   int64         // cut when sent reaches it; -1: no cut planned
	stalled chan struct{} // non-nil while stalled; closed by Resume
	rate    int           // bytes per second; 0: full speed
	conns   map[net.Conn]struct{}
	cuts    int
}

// NewFaultProxy starts a proxy on 127.0.0.1 to h's sshd, closed when the
// test ends.
func NewFaultProxy(t testing.TB, h *Host) *FaultProxy {
	t.Helper()
	p, err := StartFaultProxy(h.Address())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// StartFaultProxy starts a proxy on 127.0.0.1 to target (host:port).
func StartFaultProxy(target string) (*FaultProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		ln.Close()
		return nil, fmt.Errorf("testhost: fault proxy listens on %s, not TCP", ln.Addr())
	}
	p := &FaultProxy{Host: "127.0.0.1", Port: addr.Port, target: target, ln: ln, cutAt: -1, conns: map[net.Conn]struct{}{}}
	go p.serve()
	return p, nil
}

// Address is host:port of the proxy.
func (p *FaultProxy) Address() string { return net.JoinHostPort(p.Host, strconv.Itoa(p.Port)) }

// Sent is how many client-to-server bytes the proxy has forwarded so far.
func (p *FaultProxy) Sent() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent
}

// CutAfter cuts every connection once n more client-to-server bytes have
// passed: exactly n are forwarded, then both sides are closed, as a dropped
// link or a killed client would end them. n <= 0 cuts now. The cut happens
// once; later connections pass.
func (p *FaultProxy) CutAfter(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n <= 0 {
		p.cutLocked()
		return
	}
	p.cutAt = p.sent + n
}

// ClearCut forgets a planned cut that has not happened.
func (p *FaultProxy) ClearCut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutAt = -1
}

// Cut closes every open connection now.
func (p *FaultProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutLocked()
}

// Cuts is how many cuts have happened.
func (p *FaultProxy) Cuts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

// Stall stops all traffic both ways without closing anything, until Resume.
func (p *FaultProxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled == nil {
		p.stalled = make(chan struct{})
	}
}

// Resume ends a stall.
func (p *FaultProxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled != nil {
		close(p.stalled)
		p.stalled = nil
	}
}

// Slow limits each direction of each connection to about bytesPerSecond;
// 0 restores full speed.
func (p *FaultProxy) Slow(bytesPerSecond int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate = bytesPerSecond
}

// Close stops the proxy and closes every connection.
func (p *FaultProxy) Close() {
	p.ln.Close()
	p.Resume()
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *FaultProxy) cutLocked() {
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.cuts++
	p.cutAt = -1
}

func (p *FaultProxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns[client], p.conns[server] = struct{}{}, struct{}{}
		p.mu.Unlock()
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); p.pipe(client, server, true) }()
		go func() { defer wg.Done(); p.pipe(server, client, false) }()
		go func() {
			wg.Wait()
			client.Close()
			server.Close()
			p.mu.Lock()
			delete(p.conns, client)
			delete(p.conns, server)
			p.mu.Unlock()
		}()
	}
}

// pipe copies src to dst in small steps, applying the faults before each
// step; upstream (client to server) bytes count toward a planned cut. An
// end of input is passed on as a half close; any other end closes both.
func (p *FaultProxy) pipe(src, dst net.Conn, upstream bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		data := buf[:n]
		for len(data) > 0 {
			chunk := p.admit(data, upstream)
			if _, werr := dst.Write(data[:chunk]); werr != nil {
				src.Close()
				return
			}
			data = data[chunk:]
			if upstream {
				p.mu.Lock()
				if p.cutAt >= 0 && p.sent >= p.cutAt {
					// The cut point: exactly the planned bytes went through.
					p.cutLocked()
					p.mu.Unlock()
					return
				}
				p.mu.Unlock()
			}
		}
		if err != nil {
			if tc, ok := dst.(*net.TCPConn); ok && errors.Is(err, io.EOF) {
				// Pass the EOF on; if the half-close fails the peer is
				// gone, which the other direction's copy sees.
				_ = tc.CloseWrite()
			} else {
				dst.Close()
			}
			return
		}
	}
}

// admit waits out a stall and a rate limit, then says how many bytes of data
// may go now (never past a planned cut).
func (p *FaultProxy) admit(data []byte, upstream bool) int {
	for {
		p.mu.Lock()
		stalled := p.stalled
		p.mu.Unlock()
		if stalled == nil {
			break
		}
		<-stalled
	}
	p.mu.Lock()
	n := len(data)
	if p.rate > 0 {
		n = min(n, max(p.rate/20, 1))
	}
	rate := p.rate
	if upstream {
		if p.cutAt >= 0 {
			n = int(min(int64(n), max(p.cutAt-p.sent, 1)))
		}
		p.sent += int64(n)
	}
	p.mu.Unlock()
	if rate > 0 {
		time.Sleep(time.Duration(n) * time.Second / time.Duration(rate))
	}
	return n
}
