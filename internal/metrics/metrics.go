// Package metrics serves a mount's Prometheus metrics (chatfs mount
// --metrics ADDR). Counters of what happens — upload outcomes, requests,
// retries — are pushed by the remote client and the uploaders through
// their Observer seams; levels — queue depth, uploads in flight, the
// download cache — are read from the mount at each scrape (Source).
package metrics

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds a mount's metrics. It is safe for concurrent use.
type Metrics struct {
	reg      *prometheus.Registry
	uploads  *prometheus.CounterVec
	sends    *prometheus.CounterVec
	upBytes  *prometheus.CounterVec
	retries  *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	attempts *prometheus.CounterVec
}

// New makes the metrics, with Go runtime and process metrics.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatfs_uploads_total",
			Help: "Upload attempts by outcome: landed (uploaded and recorded), retry (failed, tried again later), failed (for good).",
		}, []string{"app", "outcome"}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatfs_sends_total",
			Help: "Attempts of files of send/ (upload, then message) by outcome: landed (sent and recorded), retry (failed, tried again later), failed (for good).",
		}, []string{"app", "outcome"}),
		upBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatfs_upload_bytes_total",
			Help: "Bytes of files uploaded (landed).",
		}, []string{"app"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatfs_request_retries_total",
			Help: "Requests tried again after a transient failure, by endpoint.",
		}, []string{"app", "endpoint"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatfs_requests_total",
			Help: "Request attempts by endpoint and HTTP status (0: no answer).",
		}, []string{"app", "endpoint", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chatfs_request_duration_seconds",
			Help:    "Time of each request attempt until its answer's headers (uploads: the whole body sent), by endpoint.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"app", "endpoint"}),
	}
	m.reg.MustRegister(m.uploads, m.sends, m.upBytes, m.retries, m.attempts, m.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// App is what an app's remote client and uploaders report to.
type App struct {
	m    *Metrics
	name string
}

// App returns the observer of one app: a remote.Observer and a
// core.Observer.
func (m *Metrics) App(name string) App { return App{m, name} }

// Attempt implements remote.Observer.
func (a App) Attempt(kind string, status int, d time.Duration) {
	a.m.attempts.WithLabelValues(a.name, kind, strconv.Itoa(status)).Inc()
	a.m.latency.WithLabelValues(a.name, kind).Observe(d.Seconds())
}

// Retry implements remote.Observer.
func (a App) Retry(kind string) { a.m.retries.WithLabelValues(a.name, kind).Inc() }

// Upload implements core.Observer.
func (a App) Upload(outcome string, bytes int64) {
	a.m.uploads.WithLabelValues(a.name, outcome).Inc()
	if outcome == "landed" {
		a.m.upBytes.WithLabelValues(a.name).Add(float64(bytes))
	}
}

// Send implements core.Observer.
func (a App) Send(outcome string, _ int64) {
	a.m.sends.WithLabelValues(a.name, outcome).Inc()
}

// Levels is what a scrape reads from the mount.
type Levels struct {
	Apps  []AppLevels
	Cache CacheLevels
}

// AppLevels are an app's queue and uploads in flight.
type AppLevels struct {
	Name                       string
	Waiting, Uploading, Failed int
	InFlight                   int
	// Send is the queue of send/ (nil: the app has no send/).
	Send *SendLevels
}

// SendLevels are the files of an app's send/ by state.
type SendLevels struct {
	Waiting, Uploading, Sending, Failed int
}

// CacheLevels are the download cache's counters and use.
type CacheLevels struct {
	Hits, Misses, Joins, Evictions int64
	DownloadedBytes                int64
	Bytes, Files, Limit            int64
}

// Watch makes every scrape read levels (safe for concurrent use; it may
// fail, and that scrape then lacks those metrics). Call it once.
func (m *Metrics) Watch(levels func() (Levels, error)) {
	m.reg.MustRegister(&levelCollector{levels: levels})
}

var (
	descQueue     = prometheus.NewDesc("chatfs_upload_queue", "Files of upload/ by state (waiting includes retries backing off).", []string{"app", "state"}, nil)
	descSendQueue = prometheus.NewDesc("chatfs_send_queue", "Files of send/ by state (waiting includes retries backing off; sending: uploaded, the message not yet sent).", []string{"app", "state"}, nil)
	descInFlight  = prometheus.NewDesc("chatfs_uploads_in_flight", "Uploads being worked on now.", []string{"app"}, nil)
	descHits      = prometheus.NewDesc("chatfs_cache_hits_total", "Opens served by a complete cached file.", nil, nil)
	descMisses    = prometheus.NewDesc("chatfs_cache_misses_total", "Downloads started to fill the cache.", nil, nil)
	descJoins     = prometheus.NewDesc("chatfs_cache_joins_total", "Opens that joined a download already running.", nil, nil)
	descEvictions = prometheus.NewDesc("chatfs_cache_evictions_total", "Cached files deleted to stay under the cache bound.", nil, nil)
	descDown      = prometheus.NewDesc("chatfs_download_bytes_total", "Bytes downloaded into the cache.", nil, nil)
	descBytes     = prometheus.NewDesc("chatfs_cache_bytes", "Bytes of complete files in the download cache.", nil, nil)
	descFiles     = prometheus.NewDesc("chatfs_cache_files", "Complete files in the download cache.", nil, nil)
	descLimit     = prometheus.NewDesc("chatfs_cache_limit_bytes", "The download cache's bound.", nil, nil)
)

// levelCollector reads Levels at each scrape.
type levelCollector struct{ levels func() (Levels, error) }

func (c *levelCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueue, descSendQueue, descInFlight, descHits, descMisses, descJoins, descEvictions, descDown, descBytes, descFiles, descLimit} {
		ch <- d
	}
}

func (c *levelCollector) Collect(ch chan<- prometheus.Metric) {
	l, err := c.levels()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descQueue, err)
		return
	}
	for _, a := range l.Apps {
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(a.Waiting), a.Name, "waiting")
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(a.Uploading), a.Name, "uploading")
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(a.Failed), a.Name, "failed")
		ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(a.InFlight), a.Name)
		if s := a.Send; s != nil {
			for _, v := range []struct {
				state string
				n     int
			}{{"waiting", s.Waiting}, {"uploading", s.Uploading}, {"sending", s.Sending}, {"failed", s.Failed}} {
				ch <- prometheus.MustNewConstMetric(descSendQueue, prometheus.GaugeValue, float64(v.n), a.Name, v.state)
			}
		}
	}
	cl := l.Cache
	ch <- prometheus.MustNewConstMetric(descHits, prometheus.CounterValue, float64(cl.Hits))
	ch <- prometheus.MustNewConstMetric(descMisses, prometheus.CounterValue, float64(cl.Misses))
	ch <- prometheus.MustNewConstMetric(descJoins, prometheus.CounterValue, float64(cl.Joins))
	ch <- prometheus.MustNewConstMetric(descEvictions, prometheus.CounterValue, float64(cl.Evictions))
	ch <- prometheus.MustNewConstMetric(descDown, prometheus.CounterValue, float64(cl.DownloadedBytes))
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(cl.Bytes))
	ch <- prometheus.MustNewConstMetric(descFiles, prometheus.GaugeValue, float64(cl.Files))
	ch <- prometheus.MustNewConstMetric(descLimit, prometheus.GaugeValue, float64(cl.Limit))
}

// Server serves /metrics. Close stops it and waits for it.
type Server struct {
	srv  *http.Server
	done chan struct{}
}

// Serve serves m's metrics on ln (see CheckAddr) until Close.
func (m *Metrics) Serve(ln net.Listener, log *slog.Logger) *Server {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slogErrorLog{log}}))
	s := &Server{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	return s
}

// Close stops serving and waits for the server's goroutines.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}

type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) { l.log.Warn("metrics: " + fmt.Sprint(v...)) }

// CheckAddr accepts a listen address for metrics: a loopback host
// (127.0.0.1, ::1, localhost) and a port, unless public allows any: the
// metrics name apps and paths, and need no password.
func CheckAddr(addr string, public bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--metrics %q: want HOST:PORT, e.g. 127.0.0.1:9464: %w", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("--metrics %q: bad port", addr)
	}
	if public {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--metrics %q is not a loopback address (127.0.0.1, ::1, localhost); add --metrics-public to serve metrics to the network", addr)
}
