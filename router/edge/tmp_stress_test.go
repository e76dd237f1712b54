package edge

import (
	"math/rand/v2"
	"testing"

	"github.com/ostium-net/ostium/sdk/wire"
)

func TestTmpStress(t *testing.T) {
	l, leaf := newFuzzListener(t)
	seeds := [][]byte{
		fuzzFrames(wire.NewConnect([]byte(fuzzDialToken), 5), wire.NewData(5, 1, 0, []byte("early")), wire.NewStateClosed(5, 0, "bye")),
		fuzzFrames(wire.NewBind([]byte(fuzzBindToken), 1, wire.BindOptions{}), wire.NewUpdateBind([]byte(fuzzBindToken), 1, nil, nil), wire.NewUnbind([]byte(fuzzBindToken), 1)),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		d := append([]byte(nil), seeds[r.IntN(len(seeds))]...)
		for range r.IntN(4) {
			d[r.IntN(len(d))] = byte(r.IntN(256))
		}
		t.Logf("input %d: %x", i, d)
		fuzzChannelOnce(t, l, leaf, d)
	}
}
