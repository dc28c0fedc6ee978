package forwarder

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Listen opens the Unix socket at path with the given file mode, owned by
// the process's uid. A socket file left behind by a crash is replaced only
// when nothing answers a connect on it; a path that exists and is not a
// socket is never touched.
//
// The file never has more permissions than mode, not even for an instant:
// bind(2) creates it with the socket inode's mode minus the umask, so the
// socket is fchmod'ed to mode before bind (Linux applies a socket's mode to
// the file bind creates), and chmod afterwards only adds back the bits the
// umask took away. Changing the umask instead would be process-wide and
// would race with every other goroutine creating files.
//
// The directory holding the socket must not be writable by anyone the mode
// is meant to keep out: whoever can write there can replace the file.
func Listen(path string, mode os.FileMode) (*net.UnixListener, error) {
	fi, err := os.Lstat(path)
	switch {
	case err == nil && fi.Mode()&os.ModeSocket == 0:
		return nil, fmt.Errorf("socket path %s exists and is not a socket; refusing to replace it", path)
	case err == nil:
		c, derr := net.DialTimeout("unix", path, time.Second)
		if derr == nil {
			c.Close()
			return nil, fmt.Errorf("socket path %s: another process is listening on it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("socket path %s: %w", path, err)
	}
	lc := net.ListenConfig{Control: func(_, _ string, raw syscall.RawConn) error {
		var cerr error
		if err := raw.Control(func(fd uintptr) { cerr = unix.Fchmod(int(fd), uint32(mode.Perm())) }); err != nil {
			return err
		}
		if cerr != nil {
			return fmt.Errorf("fchmod socket before bind: %w", cerr)
		}
		return nil
	}}
	l, err := lc.Listen(context.Background(), "unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	ln := l.(*net.UnixListener)
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, mode.Perm()); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod socket %s: %w", path, err)
	}
	return ln, nil
}

// peerUID returns the uid of the process at the other end of c.
func peerUID(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	err = raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("peer credentials: %w", err)
	}
	return cred.Uid, nil
}

// allowed reports whether a peer uid may connect; an empty list allows all.
func allowed(uids []uint32, uid uint32) bool {
	return len(uids) == 0 || slices.Contains(uids, uid)
}
