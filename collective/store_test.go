package collective

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// hostAndDial starts a store on loopback and connects one client.
func hostAndDial(t *testing.T, token string) (host, client *Store) {
	t.Helper()
	host, err := HostStore("127.0.0.1:0", "secret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	client, err = DialStore(ctxTimeout(t, 5*time.Second), host.Addr(), token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return host, client
}

func TestStoreOperations(t *testing.T) {
	host, client := hostAndDial(t, "secret")
	for name, s := range map[string]*Store{"host": host, "client": client, "memory": NewMemoryStore()} {
		t.Run(name, func(t *testing.T) {
			ctx := ctxTimeout(t, 5*time.Second)
			key := func(k string) string { return name + "/" + k }
			if err := s.Set(ctx, key("a"), []byte("hello")); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, key("a"))
			if err != nil || string(got) != "hello" {
				t.Fatalf("Get = %q, %v", got, err)
			}
			// Get waits for a key set later.
			go func() {
				time.Sleep(50 * time.Millisecond)
				s.Set(context.Background(), key("late"), []byte("x"))
			}()
			if got, err := s.Get(ctx, key("late")); err != nil || string(got) != "x" {
				t.Fatalf("Get(late) = %q, %v", got, err)
			}
			var wg sync.WaitGroup
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := s.Add(ctx, key("n"), 3); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if v, err := s.Add(ctx, key("n"), -1); err != nil || v != 59 {
				t.Fatalf("Add = %d, %v; want 59", v, err)
			}
			if _, err := s.Add(ctx, key("a"), 1); err == nil || !strings.Contains(err.Error(), "not a decimal integer") {
				t.Fatalf("Add to a non-number: %v", err)
			}
			if err := s.Wait(ctx, key("a"), key("n")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestStoreWaitReportsMissingKeys(t *testing.T) {
	host, client := hostAndDial(t, "secret")
	for name, s := range map[string]*Store{"host": host, "client": client} {
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		s.Set(ctx, "present", nil)
		start := time.Now()
		err := s.Wait(ctx, "present", "b", "a")
		cancel()
		var mk *MissingKeysError
		if !errors.As(err, &mk) || fmt.Sprint(mk.Keys) != "[a b]" {
			t.Fatalf("%s: got %v, want missing keys a and b", name, err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: %v does not wrap context.DeadlineExceeded", name, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: wait of 150ms returned after %v", name, d)
		}
	}
}

func TestStoreRefusesWrongToken(t *testing.T) {
	host, err := HostStore("127.0.0.1:0", "secret")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	start := time.Now()
	_, err = DialStore(ctxTimeout(t, 10*time.Second), host.Addr(), "guess")
	if !errors.Is(err, ErrBadToken) || !strings.Contains(err.Error(), "same job token") {
		t.Fatalf("got %v, want ErrBadToken with advice", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("refusal took %v; it must not retry", d)
	}
}

func TestDialStoreUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := DialStore(ctx, fmt.Sprintf("127.0.0.1:%d", freePort(t)), "secret")
	if err == nil || !strings.Contains(err.Error(), "MASTER_ADDR/MASTER_PORT") {
		t.Fatalf("got %v, want advice about MASTER_ADDR/MASTER_PORT", err)
	}
}

func TestStoreSurvivesGarbage(t *testing.T) {
	host, err := HostStore("127.0.0.1:0", "secret")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	huge := binary.BigEndian.AppendUint32(nil, 0xFFFFFFF0)
	var badFields bytes.Buffer
	writeMessage(&badFields, message{kind: kindHello, fields: [][]byte{[]byte(storeProtocol), []byte("secret")}})
	badFields.Write([]byte{0, 0, 0, 3, kindSet, 0xFF, 0xFF}) // authenticated, then a broken field length
	inputs := [][]byte{
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		huge,
		{0, 0, 0, 0},
		{0, 0, 0, 5, kindHello, 200, 1, 1, 1},
		appendMessage(nil, message{kind: kindSet, fields: [][]byte{[]byte("k"), []byte("v")}}), // no hello
		badFields.Bytes(),
	}
	for _, in := range inputs {
		c, err := net.Dial("tcp", host.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c.Write(in)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		var sink [64]byte
		c.Read(sink[:]) // the server answers with an error or hangs up
		c.Close()
	}
	// A silent client must not block the others.
	silent, err := net.Dial("tcp", host.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	client, err := DialStore(ctxTimeout(t, 5*time.Second), host.Addr(), "secret")
	if err != nil {
		t.Fatalf("after garbage: %v", err)
	}
	defer client.Close()
	ctx := ctxTimeout(t, 5*time.Second)
	if err := client.Set(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := host.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if v, _ := host.Get(ctx, "k"); string(v) == "" {
		t.Fatal("value lost")
	}
}

func TestStoreReconnectsAfterBrokenCall(t *testing.T) {
	host, client := hostAndDial(t, "secret")
	// A call cancelled mid-wait drops its connection; the next call dials again.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if err := client.Wait(ctx, "never"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	host.Set(context.Background(), "k", []byte("v"))
	if v, err := client.Get(ctxTimeout(t, 5*time.Second), "k"); err != nil || string(v) != "v" {
		t.Fatalf("after reconnect: %q, %v", v, err)
	}
}

func TestStoreClosed(t *testing.T) {
	host, client := hostAndDial(t, "secret")
	errc := make(chan error, 1)
	go func() { errc <- client.Wait(ctxTimeout(t, time.Minute), "never") }()
	time.Sleep(50 * time.Millisecond)
	host.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("wait succeeded on a closed store")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("closing the store did not end a client's wait")
	}
	if err := host.Set(context.Background(), "k", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set on a closed store: %v", err)
	}
}
