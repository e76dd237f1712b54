package crypto

import (
	"bytes"
	"encoding/hex"
	"testing"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/curve25519"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func mustHex32(t testing.TB, s string) [32]byte {
	t.Helper()
	b := mustHex(t, s)
	if len(b) != 32 {
		t.Fatalf("hex %q is %d bytes, want 32", s, len(b))
	}
	return [32]byte(b)
}

// RFC 7748, section 6.1.
const (
	rfcAlicePriv = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
	rfcAlicePub  = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
	rfcBobPriv   = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
	rfcBobPub    = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
	rfcShared    = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
)

func TestX25519RFC7748(t *testing.T) {
	for _, tc := range []struct{ name, priv, pub string }{
		{"alice", rfcAlicePriv, rfcAlicePub},
		{"bob", rfcBobPriv, rfcBobPub},
	} {
		pub, err := curve25519.X25519(mustHex(t, tc.priv), curve25519.Basepoint)
		if err != nil {
			t.Fatalf("%s public key: %v", tc.name, err)
		}
		if got := hex.EncodeToString(pub); got != tc.pub {
			t.Errorf("%s public key = %s, want %s", tc.name, got, tc.pub)
		}
	}
	ab, err := curve25519.X25519(mustHex(t, rfcAlicePriv), mustHex(t, rfcBobPub))
	if err != nil {
		t.Fatal(err)
	}
	ba, err := curve25519.X25519(mustHex(t, rfcBobPriv), mustHex(t, rfcAlicePub))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(ab) != rfcShared || hex.EncodeToString(ba) != rfcShared {
		t.Errorf("shared secrets %x / %x, want %s", ab, ba, rfcShared)
	}
}

func TestBLAKE2b512KnownAnswer(t *testing.T) {
	// RFC 7693, appendix A.
	want := "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1" +
		"7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
	sum := blake2b.Sum512([]byte("abc"))
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("BLAKE2b-512(abc) = %s, want %s", got, want)
	}
	// crypto_kx hashes with the incremental API; it must agree with the
	// one-shot digest over the concatenation.
	h, err := blake2b.New512(nil)
	if err != nil {
		t.Fatal(err)
	}
	h.Write([]byte("a"))
	h.Write([]byte("bc"))
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Fatalf("incremental BLAKE2b-512(abc) = %s, want %s", got, want)
	}
}

// libsodium's crypto_kx_seed_keypair derives sk = BLAKE2b-256(seed) and
// pk = X25519(sk, 9). These published key pairs were produced by libsodium and
// pin both primitives as crypto_kx uses them.
func TestLibsodiumSeededKeyPairs(t *testing.T) {
	for _, tc := range []struct{ name, seed, pub, priv string }{
		{
			name: "pynacl kx_from_seed",
			seed: "7adf0494dc2a0f9abfa45a7d93de7a7176c178c242aa082732cebbbf60416282",
			pub:  "d3afc9ad5b5a0305dcc45cced25d2039d006039a765074f3f155a093e8388038",
			priv: "e8ec24037f3f3890d01a00e00402ac479081d84b3338563f141fba3462db8415",
		},
		{
			name: "sodium-native seed 'lo' repeated",
			seed: hex.EncodeToString(bytes.Repeat([]byte("lo"), 16)),
			pub:  "0cd703bbd6b1d46dc431a1fc4f1f7724c64b1d4c471e8c17de4966c9e15bf85e",
			priv: "768475983073421d5b1676c4aabb24fdf17c3a5f19e6e9e9cdefbfeb45ceb153",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			priv := blake2b.Sum256(mustHex(t, tc.seed))
			if got := hex.EncodeToString(priv[:]); got != tc.priv {
				t.Fatalf("secret key = %s, want %s", got, tc.priv)
			}
			pub, err := curve25519.X25519(priv[:], curve25519.Basepoint)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(pub); got != tc.pub {
				t.Fatalf("public key = %s, want %s", got, tc.pub)
			}
		})
	}
}

// expectedKxDigest recomputes crypto_kx's hash through a different path: the
// shared secret from the other party's side and a one-shot BLAKE2b-512 over
// an explicit concatenation.
func expectedKxDigest(t *testing.T, otherPriv [32]byte, ownPub, clientPub, serverPub [32]byte) [64]byte {
	t.Helper()
	shared, err := curve25519.X25519(otherPriv[:], ownPub[:])
	if err != nil {
		t.Fatal(err)
	}
	input := make([]byte, 0, 96)
	input = append(input, shared...)
	input = append(input, clientPub[:]...)
	input = append(input, serverPub[:]...)
	return blake2b.Sum512(input)
}

func TestSessionKeysRFCKeys(t *testing.T) {
	clientPriv, clientPub := mustHex32(t, rfcAlicePriv), mustHex32(t, rfcAlicePub)
	serverPriv, serverPub := mustHex32(t, rfcBobPriv), mustHex32(t, rfcBobPub)

	input := append(append(mustHex(t, rfcShared), clientPub[:]...), serverPub[:]...)
	digest := blake2b.Sum512(input)

	crx, ctx, err := ClientSessionKeys(clientPub, clientPriv, serverPub)
	if err != nil {
		t.Fatal(err)
	}
	srx, stx, err := ServerSessionKeys(serverPub, serverPriv, clientPub)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(crx[:], digest[:32]) || !bytes.Equal(ctx[:], digest[32:]) {
		t.Errorf("client keys rx=%x tx=%x, want rx=%x tx=%x", crx, ctx, digest[:32], digest[32:])
	}
	if !bytes.Equal(srx[:], digest[32:]) || !bytes.Equal(stx[:], digest[:32]) {
		t.Errorf("server keys rx=%x tx=%x, want rx=%x tx=%x", srx, stx, digest[32:], digest[:32])
	}
}

func TestSessionKeysMirror(t *testing.T) {
	for i := 0; i < 32; i++ {
		clientPub, clientPriv, err := GenerateKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		serverPub, serverPriv, err := GenerateKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		crx, ctx, err := ClientSessionKeys(clientPub, clientPriv, serverPub)
		if err != nil {
			t.Fatal(err)
		}
		srx, stx, err := ServerSessionKeys(serverPub, serverPriv, clientPub)
		if err != nil {
			t.Fatal(err)
		}
		if crx != stx || ctx != srx {
			t.Fatalf("keys do not mirror: client rx=%x tx=%x, server rx=%x tx=%x", crx, ctx, srx, stx)
		}
		if crx == ctx {
			t.Fatal("rx and tx keys are equal")
		}
		// The client's keys, recomputed from the server's secret.
		want := expectedKxDigest(t, serverPriv, clientPub, clientPub, serverPub)
		if !bytes.Equal(crx[:], want[:32]) || !bytes.Equal(ctx[:], want[32:]) {
			t.Fatalf("client keys differ from BLAKE2b-512(q ‖ client_pk ‖ server_pk)")
		}
		// Swapping the roles must not give the same keys: the hash order is fixed.
		xrx, xtx, err := ClientSessionKeys(serverPub, serverPriv, clientPub)
		if err != nil {
			t.Fatal(err)
		}
		if xrx == crx || xtx == ctx {
			t.Fatal("swapping client and server roles gave the same keys")
		}
	}
}

func TestGenerateKeyPair(t *testing.T) {
	pub1, priv1, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	pub2, priv2, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if pub1 == pub2 || priv1 == priv2 {
		t.Fatal("two generated key pairs are equal")
	}
	want, err := curve25519.X25519(priv1[:], curve25519.Basepoint)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub1[:], want) {
		t.Fatalf("public key %x is not X25519(priv, 9) = %x", pub1, want)
	}
}

func TestSessionKeysRejectLowOrderPoints(t *testing.T) {
	pub, priv, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	lowOrder := []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p - 1
	}
	for _, h := range lowOrder {
		peer := mustHex32(t, h)
		if _, _, err := ClientSessionKeys(pub, priv, peer); err == nil {
			t.Errorf("ClientSessionKeys accepted low-order server key %s", h)
		}
		if _, _, err := ServerSessionKeys(pub, priv, peer); err == nil {
			t.Errorf("ServerSessionKeys accepted low-order client key %s", h)
		}
	}
}
