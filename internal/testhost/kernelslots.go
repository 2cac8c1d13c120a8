package testhost

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Kernel guests run under software emulation: each busy guest takes a whole
// core, and a 2-core machine that boots more than two at once makes every
// guest (and every namespace test beside them) slower than running them in
// turn. Tests that run side by side, in one test binary or in several, share
// KernelGuests slots through lock files: a guest boots only once it holds a
// slot, and the slot is free again when its test ends (or its process dies:
// the kernel drops a dead process's flock).

// EnvKernelGuests sets how many kernel guests may run at once on the
// machine (default DefaultKernelGuests).
const EnvKernelGuests = "CONNTRACK_KERNEL_GUESTS"

// DefaultKernelGuests suits 2 cores and 24 GiB: two 1 GiB guests, each
// using a core when busy, beside the namespace tests.
const DefaultKernelGuests = 2

// kernelGuests is the number of slots: $CONNTRACK_KERNEL_GUESTS when it is a
// positive number, else the default.
func kernelGuests() int {
	if n, err := strconv.Atoi(os.Getenv(EnvKernelGuests)); err == nil && n > 0 {
		return n
	}
	return DefaultKernelGuests
}

// acquireKernelSlot blocks until this process holds one of the machine's
// kernel guest slots, or ctx ends. The returned function frees it.
func acquireKernelSlot(ctx context.Context) (release func(), err error) {
	dir := filepath.Join(BaseDir, "kernel-slots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	n := kernelGuests()
	for {
		for i := range n {
			f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(i)), os.O_CREATE|os.O_RDWR, 0o600)
			if err != nil {
				return nil, err
			}
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
				return func() { _ = f.Close() }, nil
			}
			_ = f.Close()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("testhost: waiting for one of %d kernel guest slots (%s): %w", n, EnvKernelGuests, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}
