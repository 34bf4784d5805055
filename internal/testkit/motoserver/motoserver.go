package motoserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// launcher is the Python program that starts moto with certificate IDs
// derived as AWS derives them. It serves on the listening socket it
// inherits as file descriptor 3 (Start opens it), so no other program can
// take the port between choosing it and listening on it; its only argument
// is the port, for moto's MOTO_PORT.
const launcher = `import os, signal, sys
from moto.core.config import default_user_config
default_user_config["iot"]["use_valid_cert"] = True
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server
os.environ["MOTO_PORT"] = sys.argv[1]
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
app = DomainDispatcherApplication(create_backend_app)
app.debug = True
make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True, fd=3).serve_forever()
`

// DefaultStartTimeout bounds how long Start waits for moto to answer.
const DefaultStartTimeout = 30 * time.Second

// Options configure Start. The zero value is usable.
type Options struct {
	// Python is the interpreter to run; empty means "python3" from PATH.
	Python string
	// Stderr receives moto's log (one line per request). Nil discards it;
	// the last few kilobytes are kept for error messages either way.
	Stderr io.Writer
	// Port to listen on at 127.0.0.1; 0 picks a free one. A port another
	// program listens on is an error, never that program's server.
	Port int
	// StartTimeout bounds the wait for the first HTTP answer; 0 means
	// DefaultStartTimeout.
	StartTimeout time.Duration
}

// Server is a running moto server.
type Server struct {
	// URL is the endpoint, http://127.0.0.1:PORT, without a trailing slash.
	URL string
	// Port is the TCP port moto listens on.
	Port int

	cmd      *exec.Cmd
	dir      string
	tail     *tailBuffer
	exited   chan struct{} // closed when the process has been waited for
	waitErr  error
	stopOnce sync.Once
	stopErr  error
}

// Available reports whether the default python3 can import moto's server,
// returning an error that says what is missing if not. The answer is
// computed once per process.
func Available() error { return availableOnce() }

var availableOnce = sync.OnceValue(func() error { return available(context.Background(), "python3") })

func available(ctx context.Context, python string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := exec.LookPath(python); err != nil {
		return fmt.Errorf("motoserver: %s not found: %w", python, err)
	}
	cmd := exec.CommandContext(ctx, python, "-c",
		"import moto, moto.server\nfrom moto.core.config import default_user_config\ndefault_user_config['iot']")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("motoserver: %s cannot import moto: %w: %s", python, err, bytes.TrimSpace(lastBytes(out, 500)))
	}
	return nil
}

// Start launches moto and waits until it answers HTTP. ctx bounds only the
// start; the server runs until Stop. Start opens the listening socket
// itself and hands it to moto, so whatever answers at URL is this moto.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Python == "" {
		opts.Python = "python3"
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(opts.Port))
	if err != nil {
		return nil, fmt.Errorf("motoserver: listen: %w", err)
	}
	defer ln.Close() // moto holds its own copy once started
	return start(ctx, opts, ln.(*net.TCPListener))
}

var errExitedEarly = errors.New("moto exited before answering")

func start(ctx context.Context, opts Options, ln *net.TCPListener) (*Server, error) {
	port := ln.Addr().(*net.TCPAddr).Port
	sock, err := ln.File()
	if err != nil {
		return nil, fmt.Errorf("motoserver: listener: %w", err)
	}
	defer sock.Close()
	dir, err := os.MkdirTemp("", "motoserver-")
	if err != nil {
		return nil, err
	}
	script := filepath.Join(dir, "launch_moto.py")
	if err := os.WriteFile(script, []byte(launcher), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}

	tail := &tailBuffer{max: 8 << 10}
	var errOut io.Writer = tail
	if opts.Stderr != nil {
		errOut = io.MultiWriter(tail, opts.Stderr)
	}
	cmd := exec.Command(opts.Python, script, strconv.Itoa(port))
	cmd.Stdout = errOut
	cmd.Stderr = errOut
	cmd.Dir = dir
	cmd.ExtraFiles = []*os.File{sock} // fd 3
	// Do not let a stray grandchild holding the output pipe block Wait.
	cmd.WaitDelay = 2 * time.Second
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("motoserver: start %s: %w", opts.Python, err)
	}
	// Only moto holds the socket now: when it exits, the port refuses.
	sock.Close()
	ln.Close()

	s := &Server{
		URL:    "http://127.0.0.1:" + strconv.Itoa(port),
		Port:   port,
		cmd:    cmd,
		dir:    dir,
		tail:   tail,
		exited: make(chan struct{}),
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()

	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop() // the readiness error says what went wrong
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/moto-api/data.json", nil)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		select {
		case <-s.exited:
			// waitErr is nil when moto exits 0, which %v shows and %w would not.
			return fmt.Errorf("motoserver: %w (%v); output:\n%s", errExitedEarly, s.waitErr, s.tail.String()) //nolint:errorlint // see above
		case <-ctx.Done():
			return fmt.Errorf("motoserver: not answering at %s: %w; output:\n%s", s.URL, ctx.Err(), s.tail.String())
		case <-tick.C:
		}
	}
}

// Stop ends the server and its process group and waits for it to exit.
// It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.exited:
		default:
			terminate(s.cmd)
			select {
			case <-s.exited:
			case <-time.After(5 * time.Second):
				kill(s.cmd)
				<-s.exited
			}
		}
		s.stopErr = os.RemoveAll(s.dir)
	})
	return s.stopErr
}

// Reset clears all state in moto (every service, every region), as a
// fresh start would, without restarting the process.
func (s *Server) Reset() error {
	return s.ResetContext(context.Background())
}

// ResetContext is Reset with a context.
func (s *Server) ResetContext(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/moto-api/reset", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("motoserver: reset: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("motoserver: reset: HTTP %d: %s", resp.StatusCode, body)
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
