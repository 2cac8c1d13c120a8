package sshx_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/conntrack-ops/terraform-provider-conntrack/internal/sshx"
	"github.com/conntrack-ops/terraform-provider-conntrack/internal/testhost"
)

// sweepPoints are the cut offsets (client-to-server bytes into a write) to
// try: every 64th byte with CONNTRACK_FAULT_SWEEP=full, else a sample of
// 20 that always holds the first and the last, drawn from a new seed each
// run (faultSeed). CONNTRACK_FAULT_POINTS (comma-separated offsets, as
// logged) cuts at exactly those points instead: the seed replays the same
// points only when the write measures the same length, which varies by a
// few bytes between runs.
func sweepPoints(t *testing.T, total int64) []int64 {
	t.Helper()
	if s := os.Getenv("CONNTRACK_FAULT_POINTS"); s != "" {
		var pts []int64
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil || n < 1 {
				t.Fatalf("CONNTRACK_FAULT_POINTS: %q is not a byte offset", f)
			}
			pts = append(pts, n)
		}
		t.Logf("cutting at the %d points of CONNTRACK_FAULT_POINTS (this write is %d bytes)", len(pts), total)
		return pts
	}
	if os.Getenv("CONNTRACK_FAULT_SWEEP") == "full" {
		return gridPoints(total)
	}
	seed := faultSeed(t)
	pts := samplePoints(seed, total)
	t.Logf("cut points over %d bytes, seed %d (replay with CONNTRACK_FAULT_SEED=%d, or exactly with CONNTRACK_FAULT_POINTS=%s; CONNTRACK_FAULT_SWEEP=full for all)",
		total, seed, seed, joinPoints(pts))
	return pts
}

// gridPoints is every 64th byte of a write of total bytes, and its last.
func gridPoints(total int64) []int64 {
	var all []int64
	for off := int64(1); off < total; off += 64 {
		all = append(all, off)
	}
	return append(all, total-1)
}

// samplePoints is 20 of gridPoints(total) drawn from seed, the first and
// the last always among them (all of them when there are no more).
func samplePoints(seed, total int64) []int64 {
	all := gridPoints(total)
	if len(all) <= 20 {
		return all
	}
	r := rand.New(rand.NewSource(seed))
	picked := []int64{all[0], all[len(all)-1]}
	for _, i := range r.Perm(len(all) - 2)[:18] {
		picked = append(picked, all[i+1])
	}
	slices.Sort(picked)
	return picked
}

func joinPoints(pts []int64) string {
	s := make([]string, len(pts))
	for i, p := range pts {
		s[i] = strconv.FormatInt(p, 10)
	}
	return strings.Join(s, ",")
}

// runSeed is this test process's seed: new each run.
var runSeed = sync.OnceValue(func() int64 { return time.Now().UnixNano() % 1e9 })

// faultSeed is CONNTRACK_FAULT_SEED, else this run's own seed.
func faultSeed(t *testing.T) int64 {
	t.Helper()
	if s := os.Getenv("CONNTRACK_FAULT_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("CONNTRACK_FAULT_SEED: %q is not a number", s)
		}
		return n
	}
	return runSeed()
}

// The sample is a function of the seed and the length alone (so a logged
// seed replays it), holds the first and the last byte, and a new seed
// draws other points.
func TestSweepSample(t *testing.T) {
	t.Parallel()
	const total = 15180
	a := samplePoints(7, total)
	if !slices.Equal(a, samplePoints(7, total)) {
		t.Fatal("the same seed drew other points")
	}
	all := gridPoints(total)
	if len(a) != 20 || a[0] != 1 || a[19] != total-1 || !slices.IsSorted(a) {
		t.Fatalf("sample %v: want 20 sorted points from 1 to %d", a, total-1)
	}
	for _, p := range a {
		if !slices.Contains(all, p) {
			t.Fatalf("%d is not a grid point", p)
		}
	}
	if slices.Equal(a, samplePoints(8, total)) {
		t.Fatal("another seed drew the same points")
	}
	if got := samplePoints(7, 600); !slices.Equal(got, gridPoints(600)) {
		t.Fatalf("a short write: %v, want every grid point", got)
	}
}

// A write whose connection is cut at any point leaves the target byte for
// byte old or new, never anything else, and no temp file; a clean retry
// converges. Both write paths, over a real-world file.
func TestWriteFileAtomicSurvivesACutAnywhere(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	oldData, err := os.ReadFile("../conffile/sysctl/testdata/rhel6-stock-sysctl.conf")
	if err != nil {
		t.Fatal(err)
	}
	newData, err := os.ReadFile("../conffile/sysctl/testdata/fleshgrinder-tuning-crlf-aligned.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		noSFTP bool
	}{{"sftp", false}, {"shell", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			h := testhost.New(t, testhost.Options{NoSFTP: tc.noSFTP})
			proxy := testhost.NewFaultProxy(t, h)
			direct := mustGet(t, pool(t, rootOptions(t, h)), endpoint(h))
			o := rootOptions(t, h)
			o.HostKeys = sshx.HostKeys{Pinned: ssh.FingerprintSHA256(h.HostKey)}
			o.CommandTimeout = 20 * time.Second
			viaProxy := sshx.Endpoint{Host: proxy.Host, Port: proxy.Port}
			const f = "/etc/sysctl.conf"
			reset := func() {
				if err := direct.WriteFileAtomic(ctx, f, oldData, sshx.WriteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			temps := func() string {
				return hostOut(t, h, "find /etc -maxdepth 1 -name '.conntrack-tf.*' | wc -l")
			}
			// One uncut write measures how many bytes the client sends.
			reset()
			p := pool(t, o)
			c := mustGet(t, p, viaProxy)
			if ok, _ := c.SFTP(ctx); ok == tc.noSFTP {
				t.Fatalf("SFTP() = %v on a host with noSFTP=%v", ok, tc.noSFTP)
			}
			reset()
			p.Close()
			p = pool(t, o)
			c = mustGet(t, p, viaProxy)
			mark := proxy.Sent()
			if err := c.WriteFileAtomic(ctx, f, newData, sshx.WriteOptions{IfUnchanged: &oldData}); err != nil {
				t.Fatal(err)
			}
			total := proxy.Sent() - mark
			p.Close()

			var swept, cuts, tempsLeft, corrupted, old, installed, lied int
			for _, off := range sweepPoints(t, total) {
				reset()
				p := pool(t, o)
				c := mustGet(t, p, viaProxy)
				before := proxy.Cuts()
				proxy.CutAfter(off)
				werr := c.WriteFileAtomic(ctx, f, newData, sshx.WriteOptions{IfUnchanged: &oldData})
				proxy.ClearCut()
				if proxy.Cuts() > before {
					cuts++
				}
				p.Close()
				swept++
				// The host finishes on its own (the script removes its temp
				// file or completes the swap); wait for it.
				left := temps()
				for i := 0; i < 100 && left != "0"; i++ {
					time.Sleep(100 * time.Millisecond)
					left = temps()
				}
				if left != "0" {
					tempsLeft++
					t.Errorf("cut at %d/%d: %s temp files left", off, total, left)
				}
				got, err := direct.ReadFile(ctx, f)
				switch {
				case err != nil:
					t.Fatal(err)
				case bytes.Equal(got, oldData):
					old++
				case bytes.Equal(got, newData):
					installed++
				default:
					corrupted++
					t.Errorf("cut at %d/%d: %s holds %d bytes, neither old (%d) nor new (%d)", off, total, f, len(got), len(oldData), len(newData))
				}
				if werr == nil && !bytes.Equal(got, newData) {
					lied++
					t.Errorf("cut at %d/%d: the write reported success, yet the file is not new", off, total)
				}
				// A clean retry from a fresh read converges.
				p = pool(t, o)
				c = mustGet(t, p, viaProxy)
				now, err := c.ReadFile(ctx, f)
				if err == nil {
					err = c.WriteFileAtomic(ctx, f, newData, sshx.WriteOptions{IfUnchanged: &now})
				}
				if err != nil {
					t.Fatalf("retry after a cut at %d: %v", off, err)
				}
				if got, _ := direct.ReadFile(ctx, f); !bytes.Equal(got, newData) {
					t.Fatalf("retry after a cut at %d did not converge", off)
				}
				p.Close()
			}
			t.Logf("%s path: %d cut points swept over %d client bytes, %d cuts injected: %d old, %d new, %d corrupted, %d temp files left, %d false successes",
				tc.name, swept, total, cuts, old, installed, corrupted, tempsLeft, lied)
			// The client's byte count varies a little from run to run (window
			// adjustments), so a cut planned near the end may not be reached.
			if cuts < swept-1 {
				t.Fatalf("only %d of %d planned cuts happened", cuts, swept)
			}
		})
	}
}

// Cancelling a write (Ctrl-C, a cancelled CI job, command_timeout) while its
// bytes are on the way returns promptly and leaves the old file and no temp
// file, on both paths.
func TestWriteFileAtomicCancelledMidTransfer(t *testing.T) {
	t.Parallel()
	requireHosts(t)
	big := bytes.Repeat([]byte("net.netfilter.nf_conntrack_tcp_timeout_established = 7200\n"), 4000) // ~230 KB
	for _, tc := range []struct {
		name   string
		noSFTP bool
	}{{"sftp", false}, {"shell", true}} {
		t.Run(tc.name, func(t *testing.T) {
			h := testhost.New(t, testhost.Options{NoSFTP: tc.noSFTP})
			proxy := testhost.NewFaultProxy(t, h)
			o := rootOptions(t, h)
			o.HostKeys = sshx.HostKeys{Pinned: ssh.FingerprintSHA256(h.HostKey)}
			c := mustGet(t, pool(t, o), sshx.Endpoint{Host: proxy.Host, Port: proxy.Port})
			if _, err := c.SFTP(t.Context()); err != nil {
				t.Fatal(err)
			}
			hostOut(t, h, "printf 'old\\n' > /etc/ctt-cancel.conf")
			proxy.Slow(20 << 10) // 20 KB/s: the transfer takes seconds
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			start := time.Now()
			err := c.WriteFileAtomic(ctx, "/etc/ctt-cancel.conf", big, sshx.WriteOptions{})
			if !errors.Is(err, sshx.ErrTimeout) {
				t.Fatalf("cancelled write: %v", err)
			}
			if d := time.Since(start); d > 7*time.Second {
				t.Fatalf("cancelled write returned after %s", d)
			}
			proxy.Slow(0)
			// Old or new (the bytes already in the network's buffers may all
			// arrive), never anything else, and no temp file.
			temps := ""
			for i := 0; i < 100; i++ {
				if temps = hostOut(t, h, "find /etc -maxdepth 1 -name '.conntrack-tf.*' | wc -l"); temps == "0" {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if temps != "0" {
				t.Fatalf("%s temp files left after a cancelled write", temps)
			}
			got, err := mustGet(t, pool(t, rootOptions(t, h)), endpoint(h)).ReadFile(t.Context(), "/etc/ctt-cancel.conf")
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "old\n" && !bytes.Equal(got, big) {
				t.Fatalf("after a cancelled write the file holds %d bytes, neither old nor new (%d)", len(got), len(big))
			}
			t.Logf("after the cancelled write the file is %s", map[bool]string{true: "new", false: "old"}[bytes.Equal(got, big)])
		})
	}
}
