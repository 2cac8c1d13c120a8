package testhost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Hosts are numbered; the number picks the namespace, the veth and the
// address. A lock file per number, created with O_EXCL, hands each number to
// one owner across concurrent test processes, and names the owner's PID so a
// later run can remove what a killed run left behind (namespaces outlive
// their processes).

var prepareOnce struct {
	sync.Once
	err error
}

// prepare makes the base directory and the bridge, and reaps stale hosts.
func prepare(ctx context.Context) error {
	prepareOnce.Do(func() {
		prepareOnce.err = func() error {
			if err := os.MkdirAll(BaseDir, 0o755); err != nil {
				return err
			}
			if err := ip(ctx, "link", "add", bridge, "type", "bridge"); err != nil && !strings.Contains(err.Error(), "File exists") {
				return err
			}
			if err := ip(ctx, "addr", "replace", fmt.Sprintf("%s/%d", BridgeAddr, netPrefix), "dev", bridge); err != nil {
				return err
			}
			if err := ip(ctx, "link", "set", bridge, "up"); err != nil {
				return err
			}
			return reapStale()
		}()
	})
	return prepareOnce.err
}

// allocate claims the lowest free host number and creates its namespace and
// veth pair on the bridge; a host-network host gets a loopback address.
func allocate(hostNetwork bool) (*Host, error) {
	for idx := 2; idx < maxIndex; idx++ {
		f, err := os.OpenFile(lockPath(idx), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(f, "owner %d\n", os.Getpid())
		f.Close()
		h := &Host{
			Index:     idx,
			Namespace: nsPrefix + strconv.Itoa(idx),
			Addr:      fmt.Sprintf("10.200.%d.%d", idx>>8, idx&0xff),
			Port:      22,
			Dir:       filepath.Join(BaseDir, strconv.Itoa(idx)),
		}
		if hostNetwork {
			h.Addr = fmt.Sprintf("127.200.%d.%d", idx>>8, idx&0xff)
			return h, nil
		}
		if err := h.createNetwork(); err != nil {
			_ = reap(idx)
			return nil, err
		}
		return h, nil
	}
	return nil, errors.New("testhost: no free host number")
}

func (h *Host) createNetwork() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = os.RemoveAll(h.Dir)
	_ = ip(ctx, "netns", "del", h.Namespace)
	_ = ip(ctx, "link", "del", vethName(h.Index))
	steps := [][]string{
		{"netns", "add", h.Namespace},
		// The MAC follows from the address, so a reused address never meets a
		// stale ARP entry of an earlier host (a dial would then time out).
		{"link", "add", vethName(h.Index), "type", "veth", "peer", "name", "eth0",
			"address", fmt.Sprintf("02:00:0a:c8:%02x:%02x", h.Index>>8, h.Index&0xff), "netns", h.Namespace},
		{"link", "set", vethName(h.Index), "master", bridge, "up"},
		{"-n", h.Namespace, "addr", "add", fmt.Sprintf("%s/%d", h.Addr, netPrefix), "dev", "eth0"},
		{"-n", h.Namespace, "link", "set", "eth0", "up"},
		{"-n", h.Namespace, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			return err
		}
	}
	return nil
}

// reap removes host idx: its processes, namespace, link, files and lock.
func reap(idx int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ns := nsPrefix + strconv.Itoa(idx)
	// sshd, its per-connection children (a host-network host has no
	// namespace to find them by) and anything else in the namespace.
	if _, sshd := readLock(idx); sshd > 0 {
		for _, pid := range append(descendants(sshd), sshd) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		for i := 0; i < 200 && alive(sshd); i++ {
			time.Sleep(5 * time.Millisecond) // until its parent has reaped it
		}
	}
	killAllIn(ctx, ns, 200)
	removeGuardRecords(ns)
	removeLeaves(ctx, idx)
	_ = ip(ctx, "netns", "del", ns)
	_ = ip(ctx, "link", "del", vethName(idx))
	if err := os.RemoveAll(filepath.Join(BaseDir, strconv.Itoa(idx))); err != nil {
		return err
	}
	if err := os.Remove(lockPath(idx)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// reapStale removes hosts whose owner process is gone.
func reapStale() error {
	locks, err := filepath.Glob(filepath.Join(BaseDir, "*.lock"))
	if err != nil {
		return err
	}
	for _, l := range locks {
		idx, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(l), ".lock"))
		if err != nil {
			continue
		}
		owner, _ := readLock(idx)
		if owner > 0 && alive(owner) {
			continue
		}
		if err := reap(idx); err != nil {
			return err
		}
	}
	return nil
}

// lockOwner is the PID whose life keeps the host: the test process, or for a
// detached host its own sshd.
func lockOwner(detached bool, sshdPID int) int {
	if detached {
		return sshdPID
	}
	return os.Getpid()
}

func writeLock(idx, owner, sshdPID int) error {
	tmp := lockPath(idx) + ".tmp"
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("owner %d\nsshd %d\n", owner, sshdPID)), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, lockPath(idx))
}

// readLock returns the owner PID recorded for host idx (0 when unreadable).
func readLock(idx int) (owner, sshd int) {
	b, err := os.ReadFile(lockPath(idx))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "owner":
			owner = n
		case "sshd":
			sshd = n
		}
	}
	return owner, sshd
}

// descendants lists every process below pid (sshd's connection processes
// start their own sessions, so a process group kill would miss them).
func descendants(pid int) []int {
	children := map[int][]int{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces, so cut at the last ')'.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		child, _ := strconv.Atoi(filepath.Base(filepath.Dir(s)))
		children[ppid] = append(children[ppid], child)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func lockPath(idx int) string { return filepath.Join(BaseDir, strconv.Itoa(idx)+".lock") }
func vethName(idx int) string { return "ctt" + strconv.Itoa(idx) }

func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// removeGuardRecords removes the records of the guarded changes made on
// namespace ns (conntrack.ArmScript): they live in the machine's /run,
// named by the namespace's inode, which a later namespace can be given.
func removeGuardRecords(ns string) {
	fi, err := os.Stat("/run/netns/" + ns)
	if err != nil {
		return
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		recs, _ := filepath.Glob(fmt.Sprintf("/run/conntrack-tf-guard.%d.*", st.Ino))
		for _, r := range recs {
			_ = os.RemoveAll(r)
		}
	}
}

// killAllIn kills every process in network namespace ns, again and again
// (a dying process may have forked), up to tries rounds 10 ms apart, until
// none is left.
func killAllIn(ctx context.Context, ns string, tries int) {
	for range tries {
		out, _ := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output()
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			return
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}
