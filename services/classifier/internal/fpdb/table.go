package fpdb

// tableKey is a key of a table: comparable, with a well-mixed 64-bit hash.
// The zero key is valid; it is kept beside the slot arrays, where zero marks
// an empty slot.
type tableKey interface {
	comparable
	hash() uint64
}

// table is an open-addressing hash map (linear probing, backward-shift
// deletion) with keys and values in two flat arrays: no per-entry headers,
// pointers or control bytes, so an entry costs (key + value size) / load.
// The capacity is any number (a slot is found by multiply-shift of the
// hash). By default it grows by half when the load passes 0.8, so the load
// stays in [0.53, 0.8] and a miss probes ~13 slots; a dense table (maxLoad
// 0.9, for tables off the lookup path) grows by a quarter, load [0.72, 0.9].
// It is not safe for concurrent use.
type table[K tableKey, V any] struct {
	keys    []K
	vals    []V
	n       int
	hasZero bool
	zeroVal V
	maxLoad float64 // 0 = tableMaxLoad
}

const (
	tableMinCap  = 16
	tableMaxLoad = 0.8
)

func (t *table[K, V]) load() float64 {
	if t.maxLoad > 0 {
		return t.maxLoad
	}
	return tableMaxLoad
}

// grown is the capacity after the next growth step.
func (t *table[K, V]) grown() int {
	if t.load() > 0.85 {
		return max(tableMinCap, len(t.keys)*5/4)
	}
	return max(tableMinCap, len(t.keys)*3/2)
}

func (t *table[K, V]) len() int {
	if t.hasZero {
		return t.n + 1
	}
	return t.n
}

// home is the slot a hash starts probing at: the high 32 bits scaled to
// the capacity.
func home(h uint64, n int) int { return int((h >> 32) * uint64(n) >> 32) }

// find returns the slot of k, or -1.
func (t *table[K, V]) find(k K) int {
	n := len(t.keys)
	if n == 0 {
		return -1
	}
	var zero K
	for i := home(k.hash(), n); ; {
		switch t.keys[i] {
		case k:
			return i
		case zero:
			return -1
		}
		if i++; i == n {
			i = 0
		}
	}
}

// get returns the value of k.
func (t *table[K, V]) get(k K) (V, bool) {
	var zero K
	if k == zero {
		return t.zeroVal, t.hasZero
	}
	if i := t.find(k); i >= 0 {
		return t.vals[i], true
	}
	var v V
	return v, false
}

// put sets the value of k.
func (t *table[K, V]) put(k K, v V) {
	var zero K
	if k == zero {
		t.hasZero, t.zeroVal = true, v
		return
	}
	if i := t.find(k); i >= 0 {
		t.vals[i] = v
		return
	}
	if float64(t.n+1) > t.load()*float64(len(t.keys)) {
		t.resize(t.grown())
	}
	t.insert(k, v)
	t.n++
}

// insert places a key known to be absent; there must be a free slot.
func (t *table[K, V]) insert(k K, v V) {
	var zero K
	n := len(t.keys)
	i := home(k.hash(), n)
	for t.keys[i] != zero {
		if i++; i == n {
			i = 0
		}
	}
	t.keys[i], t.vals[i] = k, v
}

func (t *table[K, V]) resize(n int) {
	keys, vals := t.keys, t.vals
	t.keys, t.vals = make([]K, n), make([]V, n)
	var zero K
	for i, k := range keys {
		if k != zero {
			t.insert(k, vals[i])
		}
	}
}

// del removes k and reports whether it was there. Later keys of the probe
// run are shifted back, so lookups never need tombstones.
func (t *table[K, V]) del(k K) bool {
	var zero K
	if k == zero {
		was := t.hasZero
		var v V
		t.hasZero, t.zeroVal = false, v
		return was
	}
	i := t.find(k)
	if i < 0 {
		return false
	}
	n := len(t.keys)
	for j := i; ; {
		if j++; j == n {
			j = 0
		}
		if t.keys[j] == zero {
			break
		}
		// The key at j may fill the hole at i unless its home lies
		// cyclically in (i, j].
		h := home(t.keys[j].hash(), n)
		if (i <= j && (h <= i || h > j)) || (i > j && h <= i && h > j) {
			t.keys[i], t.vals[i] = t.keys[j], t.vals[j]
			i = j
		}
	}
	var v V
	t.keys[i], t.vals[i] = zero, v
	t.n--
	if len(t.keys) > tableMinCap && t.n < len(t.keys)/5 {
		t.resize(max(tableMinCap, int(float64(t.n)/0.6)+1))
	}
	return true
}

// each calls fn for every key and value; fn must not change the table.
func (t *table[K, V]) each(fn func(k K, v V)) {
	if t.hasZero {
		var zero K
		fn(zero, t.zeroVal)
	}
	var zero K
	for i, k := range t.keys {
		if k != zero {
			fn(k, t.vals[i])
		}
	}
}

// reserve sizes an empty table for n entries.
func (t *table[K, V]) reserve(n int) {
	if c := int(float64(n)/t.load()) + 1; c > len(t.keys) && t.n == 0 {
		t.keys, t.vals = make([]K, c), make([]V, c)
	}
}
