package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// connectionKeys runs the key exchange the way the data plane does: the host
// has a key pair per listener, the dialer a fresh one per connection.
func connectionKeys(t *testing.T) (dialerRx, dialerTx, hostRx, hostTx [32]byte) {
	t.Helper()
	hostPub, hostPriv, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	dialerPub, dialerPriv, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	dialerRx, dialerTx, err = ClientSessionKeys(dialerPub, dialerPriv, hostPub)
	if err != nil {
		t.Fatal(err)
	}
	hostRx, hostTx, err = ServerSessionKeys(hostPub, hostPriv, dialerPub)
	if err != nil {
		t.Fatal(err)
	}
	return dialerRx, dialerTx, hostRx, hostTx
}

func TestSenderReceiverBothDirections(t *testing.T) {
	dialerRx, dialerTx, hostRx, hostTx := connectionKeys(t)

	dialerOut, err := NewSender(dialerTx)
	if err != nil {
		t.Fatal(err)
	}
	hostOut, err := NewSender(hostTx)
	if err != nil {
		t.Fatal(err)
	}
	hostIn, dialerIn := NewReceiver(hostRx), NewReceiver(dialerRx)

	for _, dir := range []struct {
		name string
		out  *Sender
		in   *Receiver
	}{{"dialer to host", dialerOut, hostIn}, {"host to dialer", hostOut, dialerIn}} {
		header := dir.out.Header()
		if len(header) != HeaderSize {
			t.Fatalf("%s: header is %d bytes", dir.name, len(header))
		}
		if dir.in.HeaderReceived() {
			t.Fatalf("%s: header reported received before any payload", dir.name)
		}
		if got, err := dir.in.Open(header); err != nil || got != nil {
			t.Fatalf("%s: Open(header) = %q, %v", dir.name, got, err)
		}
		if !dir.in.HeaderReceived() {
			t.Fatalf("%s: header not reported received", dir.name)
		}
		for i := 0; i < 20; i++ {
			msg := []byte(fmt.Sprintf("%s message %d %s", dir.name, i, bytes.Repeat([]byte{'.'}, i*37)))
			payload := dir.out.Seal(msg)
			if len(payload) != len(msg)+ABytes {
				t.Fatalf("%s: payload is %d bytes for %d-byte message", dir.name, len(payload), len(msg))
			}
			got, err := dir.in.Open(payload)
			if err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("%s message %d: Open = %q, %v", dir.name, i, got, err)
			}
		}
	}
}

// Each Sender payload is exactly one secretstream chunk tagged MESSAGE after
// the header, which is what OpenZiti SDKs expect on the wire.
func TestSenderWireFormat(t *testing.T) {
	_, tx, _, _ := connectionKeys(t)
	out, err := NewSender(tx)
	if err != nil {
		t.Fatal(err)
	}
	ref := refInit(tx, [24]byte(out.Header()))
	for _, msg := range []string{"", "a", "hello over the overlay", string(bytes.Repeat([]byte("z"), 5000))} {
		got, tag, ok := ref.pull(out.Seal([]byte(msg)), nil)
		if !ok || string(got) != msg || tag != TagMessage {
			t.Fatalf("reference pull = %q, tag %d, ok %v", got, tag, ok)
		}
	}
}

func TestReceiverRequiresHeaderFirst(t *testing.T) {
	_, tx, rx, _ := connectionKeys(t)
	out, err := NewSender(tx)
	if err != nil {
		t.Fatal(err)
	}
	chunk := out.Seal([]byte("data before header"))
	for _, first := range [][]byte{nil, chunk, make([]byte, HeaderSize-1), make([]byte, HeaderSize+1)} {
		in := NewReceiver(rx)
		if _, err := in.Open(first); !errors.Is(err, ErrNoHeader) {
			t.Errorf("%d-byte first payload: error %v, want ErrNoHeader", len(first), err)
		}
		if in.HeaderReceived() {
			t.Errorf("%d-byte first payload counted as header", len(first))
		}
	}
}

func TestReceiverRejectsForeignAndWrongKey(t *testing.T) {
	dialerRx, dialerTx, hostRx, _ := connectionKeys(t)
	out, err := NewSender(dialerTx)
	if err != nil {
		t.Fatal(err)
	}
	// The dialer's own rx key is not the key the host must use.
	wrong := NewReceiver(dialerRx)
	if _, err := wrong.Open(out.Header()); err != nil {
		t.Fatal(err)
	}
	chunk := out.Seal([]byte("for the host only"))
	if _, err := wrong.Open(chunk); !errors.Is(err, ErrForged) {
		t.Fatalf("wrong key: error %v, want ErrForged", err)
	}

	in := NewReceiver(hostRx)
	if _, err := in.Open(out.Header()); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Open(chunk[:ABytes-1]); !errors.Is(err, ErrTruncated) {
		t.Fatalf("truncated payload: error %v, want ErrTruncated", err)
	}
	if got, err := in.Open(chunk); err != nil || string(got) != "for the host only" {
		t.Fatalf("Open after refused payloads = %q, %v", got, err)
	}
	if _, err := in.Open(chunk); !errors.Is(err, ErrForged) {
		t.Fatalf("replayed payload: error %v, want ErrForged", err)
	}
}
