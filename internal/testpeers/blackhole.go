package testpeers

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// TCPPeer listens on 127.0.0.1 and hands every connection it accepts to
// handle, which owns it from then on: a peer for tests of what a client
// does when the other end misbehaves below HTTP. It returns the URL
// http://ADDR and the count of connections accepted; the listener closes
// when the test ends.
func TCPPeer(t testing.TB, handle func(net.Conn)) (url string, accepts *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepts = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			handle(c)
		}
	}()
	return "http://" + ln.Addr().String(), accepts
}

// BlackHole is a TCPPeer that takes every connection without ever reading
// from it or answering: a peer that hangs after the TCP handshake, as a
// black-holed endpoint or a wedged server does. Its connections are closed
// when the test ends.
func BlackHole(t testing.TB) (url string, accepts *atomic.Int32) {
	t.Helper()
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return TCPPeer(t, func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	})
}

// HangUp is a TCPPeer that closes every connection at once: reachable at
// the TCP level, but no answer.
func HangUp(t testing.TB) (url string, accepts *atomic.Int32) {
	t.Helper()
	return TCPPeer(t, func(c net.Conn) { c.Close() })
}
