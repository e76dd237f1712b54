package dns

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func query(t testing.TB, name string, typ dnsmessage.Type) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 4242, RecursionDesired: true})
	_ = b.StartQuestions()
	if err := b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET}); err != nil {
		t.Fatal(err)
	}
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func parse(t *testing.T, reply []byte) dnsmessage.Message {
	t.Helper()
	var m dnsmessage.Message
	if err := m.Unpack(reply); err != nil {
		t.Fatal(err)
	}
	return m
}

func newTable(t *testing.T) *Table {
	t.Helper()
	tb, err := NewTable(DefaultPool)
	if err != nil {
		t.Fatal(err)
	}
	tb.Add("db", "db.corp.example")
	tb.Add("web", "*.web.example")
	return tb
}

func TestAnswerInterceptedNames(t *testing.T) {
	tb := newTable(t)
	reply, err := Answer(tb, query(t, "DB.corp.example.", dnsmessage.TypeA))
	if err != nil {
		t.Fatal(err)
	}
	m := parse(t, reply)
	if m.ID != 4242 || !m.Response || m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 1 || len(m.Questions) != 1 {
		t.Fatalf("reply %+v", m.Header)
	}
	a := m.Answers[0].Body.(*dnsmessage.AResource)
	ip := netip.AddrFrom4(a.A)
	if !DefaultPool.Contains(ip) {
		t.Fatalf("answered %s, outside the pool", ip)
	}
	if name, ok := tb.NameOf(ip); !ok || name != "db.corp.example" {
		t.Fatalf("NameOf(%s) = %q, %v", ip, name, ok)
	}
	// The same name keeps its address; another name gets another one.
	again := parse(t, must(Answer(tb, query(t, "db.corp.example.", dnsmessage.TypeA))))
	if netip.AddrFrom4(again.Answers[0].Body.(*dnsmessage.AResource).A) != ip {
		t.Fatal("the address of a name changed")
	}
	w := parse(t, must(Answer(tb, query(t, "api.web.example.", dnsmessage.TypeA))))
	wip := netip.AddrFrom4(w.Answers[0].Body.(*dnsmessage.AResource).A)
	if wip == ip || !DefaultPool.Contains(wip) {
		t.Fatalf("wildcard name got %s", wip)
	}
	if got := tb.Services("api.web.example"); len(got) != 1 || got[0] != "web" {
		t.Fatalf("Services = %v", got)
	}
	// AAAA of an intercepted name: success, no answer (IPv4 only).
	v6 := parse(t, must(Answer(tb, query(t, "db.corp.example.", dnsmessage.TypeAAAA))))
	if v6.RCode != dnsmessage.RCodeSuccess || len(v6.Answers) != 0 {
		t.Fatalf("AAAA reply %v with %d answers", v6.RCode, len(v6.Answers))
	}
}

func TestAnswerRefusesOtherNames(t *testing.T) {
	tb := newTable(t)
	for _, name := range []string{"example.com.", "web.example.", "corp.example.", "xdb.corp.example."} {
		m := parse(t, must(Answer(tb, query(t, name, dnsmessage.TypeA))))
		if m.RCode != dnsmessage.RCodeRefused || len(m.Answers) != 0 {
			t.Errorf("%s: %v with %d answers, want refused", name, m.RCode, len(m.Answers))
		}
	}
	tb.RemoveService("db")
	if m := parse(t, must(Answer(tb, query(t, "db.corp.example.", dnsmessage.TypeA)))); m.RCode != dnsmessage.RCodeRefused {
		t.Errorf("a removed service's name is still answered: %v", m.RCode)
	}
	if _, err := Answer(tb, []byte{1, 2, 3}); err == nil {
		t.Error("a 3-byte message was answered")
	}
}

func TestPoolExhaustion(t *testing.T) {
	tb, err := NewTable(netip.MustParsePrefix("10.1.2.0/30"))
	if err != nil {
		t.Fatal(err)
	}
	tb.Add("s", "*.x")
	if _, ok, err := tb.Lookup("a.x"); !ok || err != nil {
		t.Fatalf("first lookup: %v %v", ok, err)
	}
	if _, ok, err := tb.Lookup("b.x"); !ok || err != nil {
		t.Fatalf("second lookup: %v %v", ok, err)
	}
	if _, _, err := tb.Lookup("c.x"); err != ErrPoolExhausted {
		t.Fatalf("third lookup in a /30: %v", err)
	}
	if m := parse(t, must(Answer(tb, query(t, "c.x.", dnsmessage.TypeA)))); m.RCode != dnsmessage.RCodeServerFailure {
		t.Fatalf("exhausted pool answers %v", m.RCode)
	}
	if _, err := NewTable(netip.MustParsePrefix("fd00::/64")); err == nil {
		t.Fatal("an IPv6 pool was accepted")
	}
}

func TestServerOverUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := Serve(pc, newTable(t), nil)
	defer s.Close()
	c, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(query(t, "db.corp.example.", dnsmessage.TypeA)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	m := parse(t, buf[:n])
	if m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 1 {
		t.Fatalf("reply over UDP: %v, %d answers", m.RCode, len(m.Answers))
	}
	if _, err := c.Write(query(t, "elsewhere.example.", dnsmessage.TypeA)); err != nil {
		t.Fatal(err)
	}
	n, err = c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if m := parse(t, buf[:n]); m.RCode != dnsmessage.RCodeRefused {
		t.Fatalf("other name over UDP: %v", m.RCode)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func FuzzAnswer(f *testing.F) {
	f.Add(query(f, "db.corp.example.", dnsmessage.TypeA))
	f.Add(query(f, "a.web.example.", dnsmessage.TypeAAAA))
	f.Add(query(f, "nothing.", dnsmessage.TypeMX))
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c})
	f.Fuzz(func(t *testing.T, msg []byte) {
		tb, _ := NewTable(DefaultPool)
		tb.Add("db", "db.corp.example")
		tb.Add("web", "*.web.example")
		reply, err := Answer(tb, msg)
		if err != nil {
			return
		}
		var m dnsmessage.Message
		if err := m.Unpack(reply); err != nil {
			t.Fatalf("the reply does not parse: %v", err)
		}
		if !m.Response {
			t.Fatal("the reply is not a response")
		}
		for _, a := range m.Answers {
			if r, ok := a.Body.(*dnsmessage.AResource); ok && !DefaultPool.Contains(netip.AddrFrom4(r.A)) {
				t.Fatalf("answered an address outside the pool: %v", r.A)
			}
		}
	})
}
