// A TLS origin on Go's crypto/tls for the exporter's tests: serves HTTP 200 over TLS with the
// given certificate, optionally asking for client certificates or accepting one SNI only, with
// a chosen keep-alive (-idle-timeout, -keep-alive=false).
// Listens on loopback only (127.0.0.1, or -listen on another loopback address), prints its port on stdout, and exits after -lifetime.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	certFile := flag.String("cert", "", "certificate chain (PEM)")
	keyFile := flag.String("key", "", "private key (PEM)")
	clientAuth := flag.String("client-auth", "none", "none, request, require, verify")
	caFile := flag.String("client-ca", "", "CA for client certificates (PEM)")
	maxVersion := flag.String("max", "1.3", "highest version: 1.0 to 1.3")
	minVersion := flag.String("min", "1.2", "lowest version: 1.0 to 1.3")
	ciphers := flag.String("ciphers", "", "TLS 1.0-1.2 suites, Go names, comma-separated")
	status := flag.Int("status", 200, "HTTP status of every answer")
	sni := flag.String("sni", "", "accept only this SNI (others get a handshake error)")
	lifetime := flag.Duration("lifetime", 120*time.Second, "exit after this long")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback only)")
	handshakeTimeout := flag.Duration("handshake-timeout", 0, "close a connection whose TLS handshake (and request headers) did not arrive within this long after accept (http.Server's ReadHeaderTimeout; 0: none)")
	idleTimeout := flag.Duration("idle-timeout", 0, "close a connection idle this long after a response (http.Server's IdleTimeout; 0: Go's default, the read timeout, here none)")
	keepAlive := flag.Bool("keep-alive", true, "keep connections open after a response (false: Connection: close on every answer)")
	flag.Parse()

	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	versions := map[string]uint16{
		"1.0": tls.VersionTLS10, "1.1": tls.VersionTLS11,
		"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13,
	}
	cfg := &tls.Config{
		MinVersion: versions[*minVersion],
		MaxVersion: versions[*maxVersion],
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if *sni != "" && hello.ServerName != *sni {
				return nil, errors.New("unknown server name")
			}
			return &cert, nil
		},
	}
	if *ciphers != "" {
		byName := map[string]uint16{}
		for _, c := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
			byName[c.Name] = c.ID
		}
		for _, name := range strings.Split(*ciphers, ",") {
			id, ok := byName[name]
			if !ok {
				fmt.Fprintln(os.Stderr, "unknown cipher suite", name)
				os.Exit(1)
			}
			cfg.CipherSuites = append(cfg.CipherSuites, id)
		}
	}
	switch *clientAuth {
	case "request":
		cfg.ClientAuth = tls.RequestClientCert
	case "require":
		cfg.ClientAuth = tls.RequireAnyClientCert
	case "verify":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		cfg.ClientCAs = pool
	}
	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintln(os.Stderr, "-listen must be a loopback address and port")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	go func() {
		time.Sleep(*lifetime)
		os.Exit(0)
	}()
	server := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(*status)
			fmt.Fprintln(w, "ok")
		}),
		ErrorLog:          nil,
		ReadHeaderTimeout: *handshakeTimeout,
		IdleTimeout:       *idleTimeout,
	}
	server.SetKeepAlivesEnabled(*keepAlive)
	// HTTP/1.1 only, as CloudFront speaks to origins.
	server.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	_ = server.Serve(tls.NewListener(ln, cfg))
}
