package server

import (
	"net/http"
	"time"
)

// Timeouts are the http.Server's deadlines (the --http-*-timeout flags).
type Timeouts struct {
	ReadHeader time.Duration // headers must arrive within this (default 10s)
	Read       time.Duration // the whole request, body included (default 1m)
	Write      time.Duration // from the end of the headers to the end of the response, streams excepted (default 5m)
	Idle       time.Duration // a kept-alive connection waits this long for the next request (default 2m)
}

// Default HTTP timeouts.
var DefaultTimeouts = Timeouts{ReadHeader: 10 * time.Second, Read: time.Minute, Write: 5 * time.Minute, Idle: 2 * time.Minute}

// HTTPServer returns the http.Server for h with the timeouts (zero fields
// take the defaults). Streaming handlers lift the read and write deadlines
// for themselves (streams.LiftDeadlines).
func HTTPServer(h http.Handler, t Timeouts) *http.Server {
	def := DefaultTimeouts
	pick := func(v, d time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return d
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: pick(t.ReadHeader, def.ReadHeader),
		ReadTimeout:       pick(t.Read, def.Read),
		WriteTimeout:      pick(t.Write, def.Write),
		IdleTimeout:       pick(t.Idle, def.Idle),
	}
}
