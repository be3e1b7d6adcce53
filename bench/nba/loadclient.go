package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// loadConn is one keep-alive HTTP/1.1 connection of the load client, with
// one request in flight at a time, as a browser's. It writes requests
// from a reused buffer and reads only what it needs of the answer (status
// and Content-Length), so that the client costs the machine as little as
// it can: on two shared cores every microsecond it spends is taken from
// the server it measures. (fasthttp's HostClient behind a job channel
// cost about 85 µs of CPU per request here, as much as the server.)
type loadConn struct {
	host string
	c    net.Conn
	r    *bufio.Reader
	req  []byte
}

func dialLoad(addr string) (*loadConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &loadConn{host: addr, c: c, r: bufio.NewReaderSize(c, 16<<10)}, nil
}

// get requests the path appendPath writes and reads the answer; any
// status but 200 is an error that quotes the body.
func (lc *loadConn) get(appendPath func([]byte) []byte) error {
	lc.req = append(lc.req[:0], "GET "...)
	lc.req = appendPath(lc.req)
	lc.req = append(lc.req, " HTTP/1.1\r\nHost: "...)
	lc.req = append(lc.req, lc.host...)
	lc.req = append(lc.req, "\r\n\r\n"...)
	if err := lc.c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	if _, err := lc.c.Write(lc.req); err != nil {
		return err
	}
	line, err := lc.r.ReadSlice('\n')
	if err != nil {
		return err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return fmt.Errorf("bad status line %q", line)
	}
	status := string(line[9:12])
	clen := -1
	for {
		line, err = lc.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if name, value, ok := bytes.Cut(line, []byte{':'}); ok && bytes.EqualFold(name, []byte("Content-Length")) {
			if clen, err = strconv.Atoi(string(bytes.TrimSpace(value))); err != nil {
				return fmt.Errorf("bad Content-Length %q", value)
			}
		}
	}
	if clen < 0 {
		return errors.New("answer without Content-Length")
	}
	if status != "200" {
		body := make([]byte, clen)
		_, _ = io.ReadFull(lc.r, body)
		return fmt.Errorf("GET %s: %s %s", lc.req[4:bytes.IndexByte(lc.req[4:], ' ')+4], status, body)
	}
	_, err = lc.r.Discard(clen)
	return err
}

func (lc *loadConn) close() { _ = lc.c.Close() }
