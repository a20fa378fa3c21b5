//go:build unix

package dynamic

import (
	"net"
	"syscall"
)

// alive reports whether an idle kept-alive connection is still open and quiet: a peek that
// would block means the service has neither closed it nor sent anything unasked.
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var buf [1]byte
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		_, _, perr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // never wait: an answer either way is the answer
	})
	return err == nil && (perr == syscall.EAGAIN || perr == syscall.EWOULDBLOCK)
}
