package splice

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk/wire"
)

func data(n int) *wire.Message { return wire.NewData(1, 0, 0, make([]byte, n)) }

func TestQueueBoundsMessagesAndBytes(t *testing.T) {
	q := NewQueue(Limits{MaxMessages: 3, MaxBytes: 1 << 20})
	for range 3 {
		if err := q.Push(data(10), time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Push(data(10), time.Millisecond); !errors.Is(err, ErrStalled) {
		t.Fatalf("fourth push: %v, want ErrStalled", err)
	}

	size := data(1000).EncodedLen()
	q = NewQueue(Limits{MaxMessages: 100, MaxBytes: 2 * size})
	for range 2 {
		if err := q.Push(data(1000), time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Push(data(1000), time.Millisecond); !errors.Is(err, ErrStalled) {
		t.Fatalf("push beyond the byte limit: %v, want ErrStalled", err)
	}
	st := q.Stats()
	if st.Messages != 2 || st.Bytes != 2*size || st.HighBytes != 2*size || st.HighMessages != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestQueueAcceptsOversizeMessageWhenEmpty(t *testing.T) {
	q := NewQueue(Limits{MaxMessages: 4, MaxBytes: 100})
	if err := q.Push(data(1000), time.Millisecond); err != nil {
		t.Fatalf("oversize message into empty queue: %v", err)
	}
	if err := q.Push(data(1), time.Millisecond); !errors.Is(err, ErrStalled) {
		t.Fatalf("push behind an oversize message: %v", err)
	}
}

func TestQueueOrderPrefaceItemsFinal(t *testing.T) {
	q := NewQueue(Limits{})
	for i := range 3 {
		if err := q.Push(wire.NewData(1, uint32(i), 0, nil), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	q.SetPreface(wire.NewStateConnected(1))
	q.Close(wire.NewStateClosed(1, 0, "end"))
	if err := q.Push(data(1), time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("push after close: %v", err)
	}
	want := []int32{wire.ContentTypeStateConnected, wire.ContentTypeData, wire.ContentTypeData, wire.ContentTypeData, wire.ContentTypeStateClosed}
	for i, ct := range want {
		m, err := q.Pop()
		if err != nil {
			t.Fatal(err)
		}
		if m.ContentType != ct {
			t.Fatalf("pop %d: %s, want %s", i, m, wire.ContentTypeName(ct))
		}
		if ct == wire.ContentTypeData {
			if seq, _ := m.EdgeSeq(); seq != uint32(i-1) {
				t.Fatalf("pop %d: seq %d", i, seq)
			}
		}
	}
	if _, err := q.Pop(); !errors.Is(err, ErrClosed) {
		t.Fatalf("pop after the end: %v", err)
	}
}

func TestQueueAbortDropsItemsKeepsPreface(t *testing.T) {
	q := NewQueue(Limits{})
	for range 5 {
		if err := q.Push(data(10), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	q.SetPreface(wire.NewStateConnected(1))
	q.Close(nil)
	q.Abort(wire.NewStateClosed(1, 0, "aborted"))
	if st := q.Stats(); st.Messages != 0 || st.Bytes != 0 {
		t.Fatalf("after abort %+v", st)
	}
	for _, ct := range []int32{wire.ContentTypeStateConnected, wire.ContentTypeStateClosed} {
		m, err := q.Pop()
		if err != nil || m.ContentType != ct {
			t.Fatalf("pop: %v %v, want %s", m, err, wire.ContentTypeName(ct))
		}
	}
}

func TestQueueWaitingPushWakesOnPopAndOnClose(t *testing.T) {
	q := NewQueue(Limits{MaxMessages: 1})
	if err := q.Push(data(1), time.Second); err != nil {
		t.Fatal(err)
	}
	pushed := make(chan error)
	go func() { pushed <- q.Push(data(2), time.Minute) }()
	if _, err := q.Pop(); err != nil {
		t.Fatal(err)
	}
	if err := <-pushed; err != nil {
		t.Fatalf("push after room was made: %v", err)
	}
	go func() { pushed <- q.Push(data(3), time.Minute) }()
	q.Abort(nil)
	if err := <-pushed; !errors.Is(err, ErrClosed) {
		t.Fatalf("push waiting while the queue aborts: %v", err)
	}
}

func TestQueueProducerConsumer(t *testing.T) {
	q := NewQueue(Limits{MaxMessages: 8, MaxBytes: 4096})
	const n = 5000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			if err := q.Push(wire.NewData(1, uint32(i), 0, make([]byte, i%700)), time.Minute); err != nil {
				t.Error(err)
				return
			}
		}
		q.Close(nil)
	}()
	for i := 0; ; i++ {
		m, err := q.Pop()
		if errors.Is(err, ErrClosed) {
			if i != n {
				t.Fatalf("got %d messages, want %d", i, n)
			}
			break
		}
		if seq, _ := m.EdgeSeq(); seq != uint32(i) {
			t.Fatalf("message %d has seq %d", i, seq)
		}
	}
	wg.Wait()
	if st := q.Stats(); st.HighMessages > 8 || st.HighBytes > 4096 {
		t.Fatalf("queue exceeded its bounds: %+v", st)
	}
}

func TestArmedQueueStartsConsumersOnDemand(t *testing.T) {
	q := NewQueue(Limits{})
	var spawned atomic.Int32
	var got []string
	consumer := func() {
		for {
			m, ok := q.Next()
			if !ok {
				return
			}
			got = append(got, string(m.Body))
		}
	}
	if err := q.Push(wire.NewMessage(wire.ContentTypeData, []byte("early")), time.Second); err != nil {
		t.Fatal(err)
	}
	if spawned.Load() != 0 {
		t.Fatal("a queue that is not armed started a consumer")
	}
	// Arming with something queued starts one at once; the consumer runs
	// inline here, so each spawn drains the queue before returning.
	q.Arm(func() { spawned.Add(1); consumer() })
	if spawned.Load() != 1 || len(got) != 1 {
		t.Fatalf("after Arm: %d consumers, got %q", spawned.Load(), got)
	}
	// An idle queue holds no consumer; each arrival starts one.
	for _, s := range []string{"a", "b"} {
		if err := q.Push(wire.NewMessage(wire.ContentTypeData, []byte(s)), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	q.SetPreface(wire.NewMessage(wire.ContentTypeData, []byte("preface")))
	q.Close(wire.NewMessage(wire.ContentTypeData, []byte("final")))
	q.Close(nil) // closing again starts nothing
	if want := []string{"early", "a", "b", "preface", "final"}; !slices.Equal(got, want) {
		t.Fatalf("consumed %q, want %q", got, want)
	}
	if spawned.Load() != 5 {
		t.Fatalf("%d consumers started, want one per arrival (5)", spawned.Load())
	}
}

func TestArmedQueueNeverRunsTwoConsumers(t *testing.T) {
	q := NewQueue(Limits{MaxMessages: 8})
	// A consumer holds a message from a true Next until its next call of
	// Next, and owner names it meanwhile. A consumer that ends (Next says
	// false) has given owner back before that call, so a correct queue never
	// lets one consumer find owner held by another.
	var owner, consumers, overlaps atomic.Int32
	var wg sync.WaitGroup
	var delivered atomic.Int32
	q.Arm(func() {
		wg.Add(1)
		me := consumers.Add(1)
		go func() {
			defer wg.Done()
			for {
				owner.CompareAndSwap(me, 0)
				if _, ok := q.Next(); !ok {
					break
				}
				if held := owner.Swap(me); held != 0 && held != me {
					overlaps.Add(1)
				}
				delivered.Add(1)
			}
		}()
	})
	var producers sync.WaitGroup
	for p := 0; p < 4; p++ {
		producers.Add(1)
		go func() {
			defer producers.Done()
			for i := 0; i < 500; i++ {
				if err := q.Push(wire.NewMessage(wire.ContentTypeData, []byte{byte(i)}), 10*time.Second); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	producers.Wait()
	q.Close(nil)
	wg.Wait()
	if n := overlaps.Load(); n > 0 {
		t.Fatalf("two consumers held messages at once %d times", n)
	}
	if delivered.Load() != 2000 {
		t.Fatalf("delivered %d of 2000 messages", delivered.Load())
	}
}

func TestArmedQueueDirectKeepsOrder(t *testing.T) {
	q := NewQueue(Limits{})
	var got []int
	var mu sync.Mutex
	record := func(m *wire.Message) {
		mu.Lock()
		got = append(got, len(m.Body))
		mu.Unlock()
	}
	spawned := 0
	q.Arm(func() {
		spawned++
		for {
			m, ok := q.Next()
			if !ok {
				return
			}
			record(m)
		}
	})
	if q.Direct(data(1), func(m *wire.Message) bool { record(m); return true }) != true || spawned != 0 {
		t.Fatalf("direct send on an idle queue: spawned %d consumers", spawned)
	}
	// A send that cannot take the message leaves it first in the queue, before what was
	// pushed while it was being tried, and starts a consumer.
	if !q.Direct(data(2), func(*wire.Message) bool {
		if err := q.Push(data(3), time.Millisecond); err != nil {
			t.Error(err)
		}
		return false
	}) {
		t.Fatal("Direct refused an idle queue")
	}
	if spawned != 1 {
		t.Fatalf("spawned %d consumers, want 1", spawned)
	}
	if err := q.Push(data(4), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// Not idle: Direct declines while something is queued.
	q2 := NewQueue(Limits{})
	q2.Arm(func() {})
	if err := q2.Push(data(5), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if q2.Direct(data(6), func(*wire.Message) bool { t.Error("sent past a queued message"); return true }) {
		t.Fatal("Direct took a message while another was queued")
	}
	if !slices.Equal(got, []int{1, 2, 3, 4}) {
		t.Fatalf("delivered %v, want [1 2 3 4]", got)
	}
}
