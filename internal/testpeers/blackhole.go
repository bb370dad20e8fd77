package testpeers

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// BlackHole listens on 127.0.0.1 and takes every connection without ever
// reading from it or answering: a peer that hangs after the TCP handshake,
// as a black-holed endpoint or a wedged server does. It returns the URL
// http://ADDR and the count of connections accepted. The listener and
// every connection are closed when the test ends.
func BlackHole(t testing.TB) (url string, accepts *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepts = new(atomic.Int32)
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return "http://" + ln.Addr().String(), accepts
}
