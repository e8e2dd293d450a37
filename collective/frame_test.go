package collective

import (
	"bytes"
	"context"
	"reflect"
	"testing"
)

func TestMessageRoundTrip(t *testing.T) {
	m := message{kind: kindWait, fields: [][]byte{putInt64(1500), []byte("a"), {}, bytes.Repeat([]byte{7}, 300)}}
	got, err := readMessage(bytes.NewReader(appendMessage(nil, m)), maxFrame)
	if err != nil {
		t.Fatal(err)
	}
	if got.kind != m.kind || len(got.fields) != len(m.fields) {
		t.Fatalf("got %+v", got)
	}
	for i := range m.fields {
		if !bytes.Equal(got.fields[i], m.fields[i]) {
			t.Fatalf("field %d: %q != %q", i, got.fields[i], m.fields[i])
		}
	}
}

func TestFrameLimits(t *testing.T) {
	big := appendMessage(nil, message{kind: kindSet, fields: [][]byte{make([]byte, 5000)}})
	if _, err := readFrame(bytes.NewReader(big), maxHelloFrame); err == nil {
		t.Fatal("a 5000-byte frame passed the 4 KiB hello limit")
	}
	for _, bad := range [][]byte{{}, {kindSet, 5, 'a'}, {kindSet, 0x80}} {
		if _, err := decodeMessage(bad); err == nil {
			t.Errorf("decodeMessage(%v) accepted malformed input", bad)
		}
	}
}

// FuzzReadMessage feeds arbitrary bytes to the frame decoder: it must never
// panic, and whatever it accepts must re-encode to the same message.
func FuzzReadMessage(f *testing.F) {
	f.Add(appendMessage(nil, message{kind: kindHello, fields: [][]byte{[]byte(storeProtocol), []byte("tok")}}))
	f.Add(appendMessage(nil, message{kind: kindGet, fields: [][]byte{putInt64(5), []byte("key")}}))
	f.Add([]byte{0, 0, 0, 3, kindSet, 0xff, 0x01})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := readMessage(bytes.NewReader(data), maxHelloFrame)
		if err != nil {
			return
		}
		again, err := decodeMessage(appendMessage(nil, m)[4:])
		if err != nil {
			t.Fatalf("re-decoding an accepted message: %v", err)
		}
		if again.kind != m.kind || len(again.fields) != len(m.fields) {
			t.Fatalf("round trip changed %+v into %+v", m, again)
		}
		for i := range m.fields {
			if !bytes.Equal(again.fields[i], m.fields[i]) {
				t.Fatalf("field %d changed", i)
			}
		}
	})
}

// FuzzServerAnswer runs arbitrary decoded requests against a store: no
// request may panic the server or leave it blocked.
func FuzzServerAnswer(f *testing.F) {
	f.Add(appendMessage(nil, message{kind: kindSet, fields: [][]byte{[]byte("k"), []byte("v")}})[4:])
	f.Add(appendMessage(nil, message{kind: kindAdd, fields: [][]byte{[]byte("k"), putInt64(-3)}})[4:])
	f.Add(appendMessage(nil, message{kind: kindWait, fields: [][]byte{putInt64(1 << 40), []byte("k")}})[4:])
	f.Fuzz(func(t *testing.T, payload []byte) {
		req, err := decodeMessage(payload)
		if err != nil {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // waits for absent keys end at once
		s := &server{tab: newTable(), ctx: ctx}
		s.tab.set("k", []byte("12"))
		resp, _ := s.answer(req)
		switch resp.kind {
		case kindOK, kindErr, kindMissing:
		default:
			t.Fatalf("answer kind %q", resp.kind)
		}
		if reflect.DeepEqual(resp, message{}) {
			t.Fatal("empty answer")
		}
	})
}
