package intern

import (
	"strings"
	"testing"
	"unsafe"
)

func TestBytesShares(t *testing.T) {
	a := Bytes([]byte("severity"))
	b := Bytes([]byte("severity"))
	if a != "severity" || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Fatalf("equal bytes not shared: %q %p, %q %p", a, unsafe.StringData(a), b, unsafe.StringData(b))
	}
	long := []byte(strings.Repeat("x", MaxLen+1))
	if c, d := Bytes(long), Bytes(long); c != string(long) || unsafe.StringData(c) == unsafe.StringData(d) {
		t.Fatal("a string over MaxLen must be copied, not shared")
	}
	if Bytes(nil) != "" {
		t.Fatal("empty input")
	}
}

func TestBytesDoesNotAliasInput(t *testing.T) {
	buf := []byte("job")
	s := Bytes(buf)
	buf[0] = 'x'
	if s != "job" {
		t.Fatalf("interned string changed with its source buffer: %q", s)
	}
}

func TestTableBounded(t *testing.T) {
	for i := range 20 * shardSize * len(table) / 10 {
		Bytes([]byte("v" + strings.Repeat("a", i%7) + string(rune('a'+i%26)) + itoa(i)))
	}
	for i := range table {
		if n := len(table[i].m); n > shardSize {
			t.Fatalf("shard %d holds %d strings, bound %d", i, n, shardSize)
		}
	}
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}

func BenchmarkBytesHit(b *testing.B) {
	key := []byte("alertname")
	Bytes(key)
	b.ReportAllocs()
	for b.Loop() {
		Bytes(key)
	}
}
