package crypto

import (
	"bytes"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"testing"

	"golang.org/x/crypto/chacha20"
)

// setCounter positions a stream's chunk counter, to reach the wrap-around
// without sealing four billion chunks.
func (s *streamState) setCounterForTest(c uint32) { s.setCounter(c) }

func randomKeyHeader(t testing.TB) ([32]byte, [24]byte) {
	t.Helper()
	var key [32]byte
	var header [24]byte
	if _, err := crand.Read(key[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := crand.Read(header[:]); err != nil {
		t.Fatal(err)
	}
	return key, header
}

func TestHChaCha20DraftVector(t *testing.T) {
	// draft-irtf-cfrg-xchacha, section 2.2.1.
	key := mustHex32(t, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	input := [16]byte(mustHex(t, "000000090000004a0000000031415927"))
	want := "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"

	got, err := chacha20.HChaCha20(key[:], input[:])
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got) != want {
		t.Errorf("chacha20.HChaCha20 = %x, want %s", got, want)
	}
	ref := refHChaCha20(key, input)
	if hex.EncodeToString(ref[:]) != want {
		t.Errorf("reference HChaCha20 = %x, want %s", ref, want)
	}

	// The stream key is HChaCha20(key, header[0:16]).
	var header [24]byte
	copy(header[:], input[:])
	var state streamState
	state.init(key, header)
	if hex.EncodeToString(state.key[:]) != want {
		t.Errorf("stream subkey = %x, want %s", state.key, want)
	}
}

// A stream produced by libsodium's crypto_secretstream_xchacha20poly1305_push
// (through libsodium.js), circulating publicly as sample data: a MESSAGE
// chunk whose length is not a multiple of 16 (so the ciphertext padding rule
// matters) followed by a FINAL chunk.
var libsodiumStream = struct {
	key, header string
	chunks      []struct {
		ciphertext, plaintext string
		tag                   byte
	}
}{
	key:    "830007992e8f501f349e385eac8e232aa3b33b97086bf9cc79b19883927bea33",
	header: "c16669a4b36f928fed17dfeda6fa9271bc2af0aa57af6b3d",
	chunks: []struct {
		ciphertext, plaintext string
		tag                   byte
	}{
		{
			ciphertext: "cb8b518da0b60e20dbd317a59e51d5ad7ab32fc2c5d77913fec8c74d2fd26ec6925b2fe99cf8f35cb8cb7bc9b5fdb40f" +
				"9fdf9b5b42c0cccf0a20fbe15a1b30a4169522423e997e04ead5e4c833001024ff6191aa6a1d21dab3a80b986b779f5c",
			plaintext: "If the output is a unique binary buffer, it is returned as a Uint8Array object.",
			tag:       TagMessage,
		},
		{
			ciphertext: "f98ec6c7274a7be54d4a3e5ddb17c9ea78826185aac1378cc681b9a1339fbbb09a4c9a9d94db573e2d561eb80ec1091f" +
				"95e2b4a9de3b36504aa1203ee1c0b06318a4f77f51551ba16c33e164d2f40122a3d208567166f01b43adc198febd975d" +
				"381a8961c3157143282666844890fb919e1fb06471f3e7204e41506ba928cedf460e758f8be9c97917277170316ed6f9" +
				"b273def833132ea769da54fc78e92f538c0a52bf5cfbd0a87d13a90e2c9309c5574beaedf892cc5fbee17feefb208114" +
				"b40d606c45dfa60f72afee9027a82dd9f6dacb644dd1a232e2c0",
			plaintext: "Binary input buffers should be Uint8Array objects. However, if a string is given instead, " +
				"the wrappers will automatically convert the string to an array containing a UTF-8 representation of the string.",
			tag: TagFinal,
		},
	},
}

func TestLibsodiumKnownAnswer(t *testing.T) {
	key := mustHex32(t, libsodiumStream.key)
	header := [24]byte(mustHex(t, libsodiumStream.header))

	dec, err := NewDecryptor(key, header)
	if err != nil {
		t.Fatal(err)
	}
	enc := newEncryptorWithHeader(key, header)
	ref := refInit(key, header)
	for i, c := range libsodiumStream.chunks {
		ciphertext := mustHex(t, c.ciphertext)
		msg, tag, err := dec.Open(nil, ciphertext, nil)
		if err != nil {
			t.Fatalf("chunk %d: Open: %v", i, err)
		}
		if string(msg) != c.plaintext || tag != c.tag {
			t.Fatalf("chunk %d: Open = %q tag %d, want %q tag %d", i, msg, tag, c.plaintext, c.tag)
		}
		if got := enc.Seal(nil, []byte(c.plaintext), nil, c.tag); !bytes.Equal(got, ciphertext) {
			t.Fatalf("chunk %d: Seal = %x, want %x", i, got, ciphertext)
		}
		if got := ref.push([]byte(c.plaintext), nil, c.tag); !bytes.Equal(got, ciphertext) {
			t.Fatalf("chunk %d: reference push = %x, want %x", i, got, ciphertext)
		}
	}
}

var allTags = []byte{TagMessage, TagPush, TagRekey, TagFinal}

func TestMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 15, 16, 17, 47, 48, 63, 64, 65, 127, 128, 129, 1000, 16 * 1024}
	for stream := 0; stream < 40; stream++ {
		key, header := randomKeyHeader(t)
		enc := newEncryptorWithHeader(key, header)
		dec, err := NewDecryptor(key, header)
		if err != nil {
			t.Fatal(err)
		}
		push, pull := refInit(key, header), refInit(key, header)
		for chunk := 0; chunk < 30; chunk++ {
			var msg []byte
			if rng.IntN(3) == 0 {
				msg = make([]byte, sizes[rng.IntN(len(sizes))])
			} else {
				msg = make([]byte, rng.IntN(300))
			}
			fillRandom(rng, msg)
			var ad []byte
			if rng.IntN(2) == 0 {
				ad = make([]byte, rng.IntN(40))
				fillRandom(rng, ad)
			}
			tag := allTags[rng.IntN(len(allTags))]

			got := enc.Seal(nil, msg, ad, tag)
			want := push.push(msg, ad, tag)
			if !bytes.Equal(got, want) {
				t.Fatalf("stream %d chunk %d (len %d, ad %d, tag %d): Seal differs from reference\n got %x\nwant %x",
					stream, chunk, len(msg), len(ad), tag, got, want)
			}
			if enc.state != (streamState{key: push.k, nonce: push.nonce}) {
				t.Fatalf("stream %d chunk %d: state after Seal differs from reference", stream, chunk)
			}

			opened, openedTag, err := dec.Open(nil, got, ad)
			if err != nil {
				t.Fatalf("stream %d chunk %d: Open: %v", stream, chunk, err)
			}
			refMsg, refTag, ok := pull.pull(got, ad)
			if !ok {
				t.Fatalf("stream %d chunk %d: reference pull refused the chunk", stream, chunk)
			}
			if !bytes.Equal(opened, msg) || !bytes.Equal(refMsg, msg) || openedTag != tag || refTag != tag {
				t.Fatalf("stream %d chunk %d: round trip mismatch", stream, chunk)
			}

			// Explicit rekeying between chunks, on both sides.
			if rng.IntN(10) == 0 {
				enc.Rekey()
				dec.Rekey()
				push.rekey()
				pull.rekey()
			}
		}
	}
}

func fillRandom(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

func TestCounterRollover(t *testing.T) {
	key, header := randomKeyHeader(t)
	enc := newEncryptorWithHeader(key, header)
	dec, err := NewDecryptor(key, header)
	if err != nil {
		t.Fatal(err)
	}
	ref := refInit(key, header)

	const start = 0xfffffffd
	enc.state.setCounterForTest(start)
	dec.state.setCounterForTest(start)
	ref.nonce[0], ref.nonce[1], ref.nonce[2], ref.nonce[3] = 0xfd, 0xff, 0xff, 0xff

	for i := 0; i < 5; i++ {
		before := enc.state
		msg := []byte("chunk near the counter limit")
		got := enc.Seal(nil, msg, nil, TagMessage)
		if want := ref.push(msg, nil, TagMessage); !bytes.Equal(got, want) {
			t.Fatalf("chunk %d: Seal differs from reference", i)
		}
		if enc.state != (streamState{key: ref.k, nonce: ref.nonce}) {
			t.Fatalf("chunk %d: state differs from reference", i)
		}
		opened, _, err := dec.Open(nil, got, nil)
		if err != nil || !bytes.Equal(opened, msg) {
			t.Fatalf("chunk %d: Open = %q, %v", i, opened, err)
		}

		keyChanged := enc.state.key != before.key
		switch c := before.counter(); c {
		case 0xffffffff:
			if !keyChanged || enc.state.counter() != 1 {
				t.Fatalf("chunk sealed at counter %#x: want a rekey and counter 1, got key changed %v, counter %d",
					c, keyChanged, enc.state.counter())
			}
		default:
			if keyChanged || enc.state.counter() != c+1 {
				t.Fatalf("chunk sealed at counter %#x: want counter %#x without rekey, got key changed %v, counter %#x",
					c, c+1, keyChanged, enc.state.counter())
			}
		}
	}
}

func TestRekeyTag(t *testing.T) {
	key, header := randomKeyHeader(t)
	for _, tag := range allTags {
		enc := newEncryptorWithHeader(key, header)
		before := enc.state
		enc.Seal(nil, []byte("x"), nil, tag)
		rekeyed := enc.state.key != before.key
		if want := tag&TagRekey != 0; rekeyed != want {
			t.Errorf("tag %d: rekeyed = %v, want %v", tag, rekeyed, want)
		}
		if enc.state.counter() != map[bool]uint32{true: 1, false: 2}[rekeyed] {
			t.Errorf("tag %d: counter %d after one chunk", tag, enc.state.counter())
		}
	}
}

func TestRoundTripAllTags(t *testing.T) {
	key, header := randomKeyHeader(t)
	enc := newEncryptorWithHeader(key, header)
	dec, err := NewDecryptor(key, header)
	if err != nil {
		t.Fatal(err)
	}
	ad := []byte("associated data")
	for i, tag := range append(allTags, allTags...) {
		msg := bytes.Repeat([]byte{byte(i)}, 10*i)
		chunk := enc.Seal(nil, msg, ad, tag)
		if len(chunk) != len(msg)+ABytes {
			t.Fatalf("chunk of %d-byte message is %d bytes", len(msg), len(chunk))
		}
		if len(msg) > 0 && bytes.Contains(chunk, msg) {
			t.Fatal("plaintext visible in chunk")
		}
		got, gotTag, err := dec.Open([]byte("prefix"), chunk, ad)
		if err != nil {
			t.Fatalf("Open chunk %d: %v", i, err)
		}
		if !bytes.Equal(got, append([]byte("prefix"), msg...)) || gotTag != tag {
			t.Fatalf("Open chunk %d = %q tag %d, want %q tag %d", i, got, gotTag, msg, tag)
		}
	}
}

func TestNewEncryptorHeadersDiffer(t *testing.T) {
	var key [32]byte
	_, h1, err := NewEncryptor(key)
	if err != nil {
		t.Fatal(err)
	}
	_, h2, err := NewEncryptor(key)
	if err != nil {
		t.Fatal(err)
	}
	if h1 == h2 {
		t.Fatal("two streams got the same header")
	}
}

func TestTamperEveryByte(t *testing.T) {
	key, header := randomKeyHeader(t)
	enc := newEncryptorWithHeader(key, header)
	dec, err := NewDecryptor(key, header)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("the quick brown fox jumps over the lazy dog")
	ad := []byte("circuit 42")
	chunk := enc.Seal(nil, msg, ad, TagPush)

	for i := range chunk {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(chunk)
			bad[i] ^= flip
			if got, _, err := dec.Open(nil, bad, ad); !errors.Is(err, ErrForged) || got != nil {
				t.Fatalf("byte %d ^ %#x: Open = %q, %v; want ErrForged", i, flip, got, err)
			}
		}
	}
	for i := range ad {
		badAD := bytes.Clone(ad)
		badAD[i] ^= 0x01
		if _, _, err := dec.Open(nil, chunk, badAD); !errors.Is(err, ErrForged) {
			t.Fatalf("ad byte %d altered: Open error %v, want ErrForged", i, err)
		}
	}
	for _, wrongAD := range [][]byte{nil, append(bytes.Clone(ad), 0)} {
		if _, _, err := dec.Open(nil, chunk, wrongAD); !errors.Is(err, ErrForged) {
			t.Fatalf("ad %q: Open error %v, want ErrForged", wrongAD, err)
		}
	}
	// Extending or shortening the chunk must fail too.
	if _, _, err := dec.Open(nil, append(bytes.Clone(chunk), 0), ad); !errors.Is(err, ErrForged) {
		t.Fatalf("extended chunk: Open error %v, want ErrForged", err)
	}
	if _, _, err := dec.Open(nil, chunk[:len(chunk)-1], ad); !errors.Is(err, ErrForged) {
		t.Fatalf("shortened chunk: Open error %v, want ErrForged", err)
	}

	// None of the failures advanced the stream.
	got, tag, err := dec.Open(nil, chunk, ad)
	if err != nil || !bytes.Equal(got, msg) || tag != TagPush {
		t.Fatalf("original chunk after failures: Open = %q, %d, %v", got, tag, err)
	}
}

func TestOutOfOrderAndReplay(t *testing.T) {
	key, header := randomKeyHeader(t)
	enc := newEncryptorWithHeader(key, header)
	dec, err := NewDecryptor(key, header)
	if err != nil {
		t.Fatal(err)
	}
	c1 := enc.Seal(nil, []byte("one"), nil, TagMessage)
	c2 := enc.Seal(nil, []byte("two"), nil, TagMessage)
	c3 := enc.Seal(nil, []byte("three"), nil, TagMessage)

	steps := []struct {
		chunk []byte
		want  string // empty: must be refused
	}{
		{c2, ""}, {c3, ""}, {c1, "one"}, {c1, ""}, {c3, ""}, {c2, "two"}, {c2, ""}, {c1, ""}, {c3, "three"}, {c3, ""},
	}
	for i, s := range steps {
		got, _, err := dec.Open(nil, s.chunk, nil)
		if s.want == "" {
			if !errors.Is(err, ErrForged) {
				t.Fatalf("step %d: Open = %q, %v; want ErrForged", i, got, err)
			}
			continue
		}
		if err != nil || string(got) != s.want {
			t.Fatalf("step %d: Open = %q, %v; want %q", i, got, err, s.want)
		}
	}
}

func TestWrongKeyOrHeader(t *testing.T) {
	key, header := randomKeyHeader(t)
	chunk := newEncryptorWithHeader(key, header).Seal(nil, []byte("secret"), nil, TagMessage)

	otherKey, otherHeader := randomKeyHeader(t)
	for name, kh := range map[string]struct {
		k [32]byte
		h [24]byte
	}{"key": {otherKey, header}, "header": {key, otherHeader}} {
		dec, err := NewDecryptor(kh.k, kh.h)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := dec.Open(nil, chunk, nil); !errors.Is(err, ErrForged) {
			t.Errorf("wrong %s: Open error %v, want ErrForged", name, err)
		}
	}
}

func TestExplicitRekeyMustMatch(t *testing.T) {
	key, header := randomKeyHeader(t)
	enc := newEncryptorWithHeader(key, header)
	dec, err := NewDecryptor(key, header)
	if err != nil {
		t.Fatal(err)
	}
	enc.Rekey()
	chunk := enc.Seal(nil, []byte("after rekey"), nil, TagMessage)
	if _, _, err := dec.Open(nil, chunk, nil); !errors.Is(err, ErrForged) {
		t.Fatalf("Open without matching rekey: %v, want ErrForged", err)
	}
	dec.Rekey()
	if got, _, err := dec.Open(nil, chunk, nil); err != nil || string(got) != "after rekey" {
		t.Fatalf("Open after matching rekey = %q, %v", got, err)
	}
}

func TestOpenTruncated(t *testing.T) {
	key, header := randomKeyHeader(t)
	dec, err := NewDecryptor(key, header)
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < ABytes; n++ {
		if got, _, err := dec.Open(nil, make([]byte, n), nil); !errors.Is(err, ErrTruncated) || got != nil {
			t.Fatalf("%d-byte input: Open = %q, %v; want ErrTruncated", n, got, err)
		}
	}
	if _, _, err := dec.Open(nil, make([]byte, ABytes), nil); !errors.Is(err, ErrForged) {
		t.Fatalf("%d zero bytes: Open error %v, want ErrForged", ABytes, err)
	}
}

func TestEmptyMessage(t *testing.T) {
	key, header := randomKeyHeader(t)
	enc := newEncryptorWithHeader(key, header)
	dec, err := NewDecryptor(key, header)
	if err != nil {
		t.Fatal(err)
	}
	chunk := enc.Seal(nil, nil, nil, TagFinal)
	if len(chunk) != ABytes {
		t.Fatalf("empty message chunk is %d bytes, want %d", len(chunk), ABytes)
	}
	got, tag, err := dec.Open(nil, chunk, nil)
	if err != nil || len(got) != 0 || tag != TagFinal {
		t.Fatalf("Open = %q, %d, %v", got, tag, err)
	}
}

func TestInPlace(t *testing.T) {
	key, header := randomKeyHeader(t)
	msg := []byte("sealed and opened inside the same buffer")
	ad := []byte("ad")
	want := newEncryptorWithHeader(key, header).Seal(nil, msg, ad, TagMessage)

	buf := make([]byte, len(msg), len(msg)+ABytes)
	copy(buf, msg)
	sealed := newEncryptorWithHeader(key, header).Seal(buf[:0], buf, ad, TagMessage)
	if !bytes.Equal(sealed, want) {
		t.Fatalf("in-place Seal = %x, want %x", sealed, want)
	}
	if &sealed[0] != &buf[0] {
		t.Fatal("in-place Seal did not reuse the buffer")
	}

	dec, err := NewDecryptor(key, header)
	if err != nil {
		t.Fatal(err)
	}
	opened, _, err := dec.Open(sealed[:0], sealed, ad)
	if err != nil || !bytes.Equal(opened, msg) {
		t.Fatalf("in-place Open = %q, %v", opened, err)
	}

	// ad living in the output buffer is read before the buffer is written.
	space := make([]byte, 64)
	copy(space, "ad")
	sealed = newEncryptorWithHeader(key, header).Seal(space[:0], msg, space[:2], TagMessage)
	if !bytes.Equal(sealed, want) {
		t.Fatalf("Seal with ad in dst = %x, want %x", sealed, want)
	}
}
