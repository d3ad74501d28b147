// go-smtp server with Debug = os.Stdout: the raw bytes of both sides, no markers.
//
// This is the debug output maddy (and other go-smtp servers) write. Built and run by
// samples/make_generic_samples.py:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o /tmp/go-smtp-debug main.go
//	/tmp/go-smtp-debug 127.0.0.1:2511
//
// It accepts one user (alice@example.test / s3cret!, fake) and discards the mail.
package main

import (
	"errors"
	"io"
	"io/ioutil"
	"log"
	"net"
	"os"
	"time"

	"github.com/emersion/go-smtp"
)

type backend struct{}

func (backend) Login(_ *smtp.ConnectionState, user, pass string) (smtp.Session, error) {
	if user != "alice@example.test" || pass != "s3cret!" {
		return nil, errors.New("invalid username or password")
	}
	return &session{}, nil
}

func (backend) AnonymousLogin(_ *smtp.ConnectionState) (smtp.Session, error) {
	return nil, smtp.ErrAuthRequired
}

type session struct{}

func (*session) Reset()                              {}
func (*session) Logout() error                       { return nil }
func (*session) Mail(string, smtp.MailOptions) error { return nil }
func (*session) Rcpt(string) error                   { return nil }
func (*session) Data(r io.Reader) error              { _, err := io.Copy(ioutil.Discard, r); return err }

func main() {
	s := smtp.NewServer(backend{})
	s.Addr = os.Args[1]
	s.Domain = "mx.example.test"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.AllowInsecureAuth = true
	s.Debug = os.Stdout
	l, err := net.Listen("tcp", s.Addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(s.Serve(l))
}
