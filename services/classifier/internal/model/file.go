package model

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sync/atomic"
)

// File format versions: 4 adds the training document frequencies that
// spread online learning (Params.FeedbackHalf), 3 the sequence table;
// version 3 and 2 files are still read.
const (
	magic   = "mxgate-classifier-model/4\n"
	magicV3 = "mxgate-classifier-model/3\n"
	magicV2 = "mxgate-classifier-model/2\n"
)

// Save writes the model in its file format: gzip (no name, no time stamp)
// of a magic line, the JSON parameters, the bias, the non-zero weights
// (index deltas, then values as bfloat16 or float32), the sequence
// table (its length, then its bytes) and the document frequencies (their
// count, then one byte each). The output is a function of the model
// only, so equal models give equal bytes.
func (m *Model) Save(w io.Writer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return fmt.Errorf("model: save: %w", err)
	}
	bw := bufio.NewWriter(zw)
	pj, err := json.Marshal(m.params)
	if err != nil {
		return fmt.Errorf("model: save: %w", err)
	}
	var tmp [binary.MaxVarintLen64]byte
	bw.WriteString(magic)
	bw.Write(tmp[:binary.PutUvarint(tmp[:], uint64(len(pj)))])
	bw.Write(pj)
	for v := range m.views() {
		binary.Write(bw, binary.LittleEndian, m.bias[v].Load())
	}
	nz := 0
	for i := range m.weights {
		if atomic.LoadUint32(&m.weights[i]) != 0 {
			nz++
		}
	}
	bw.Write(tmp[:binary.PutUvarint(tmp[:], uint64(nz))])
	// Indices and values in two streams: the deltas compress well apart.
	last := 0
	for i := range m.weights {
		if atomic.LoadUint32(&m.weights[i]) != 0 {
			bw.Write(tmp[:binary.PutUvarint(tmp[:], uint64(i-last))])
			last = i
		}
	}
	// Weights rounded to 16 significant bits (as Train leaves them) are
	// stored as their high halves; otherwise (after Learn) in full.
	half := true
	for i := range m.weights {
		if atomic.LoadUint32(&m.weights[i])&0xffff != 0 {
			half = false
			break
		}
	}
	if half {
		bw.WriteByte(2)
	} else {
		bw.WriteByte(4)
	}
	for i := range m.weights {
		if v := atomic.LoadUint32(&m.weights[i]); v != 0 {
			if half {
				binary.Write(bw, binary.LittleEndian, uint16(v>>16))
			} else {
				binary.Write(bw, binary.LittleEndian, v)
			}
		}
	}
	bw.Write(tmp[:binary.PutUvarint(tmp[:], uint64(len(m.seq)))])
	for _, v := range m.seq {
		bw.WriteByte(byte(v))
	}
	bw.Write(tmp[:binary.PutUvarint(tmp[:], uint64(len(m.df)))])
	bw.Write(m.df)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("model: save: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("model: save: %w", err)
	}
	return nil
}

// SaveFile writes the model to path (via a temporary file and rename).
func (m *Model) SaveFile(path string) error {
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("model: save: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("model: save: %w", err)
	}
	return nil
}

// Load reads a model written by Save.
func Load(r io.Reader) (*Model, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	br := bufio.NewReader(zr)
	head := make([]byte, len(magic))
	if _, err := io.ReadFull(br, head); err != nil || (string(head) != magic && string(head) != magicV3 && string(head) != magicV2) {
		return nil, fmt.Errorf("%w: bad magic", ErrFormat)
	}
	v2, v3 := string(head) == magicV2, string(head) == magicV3
	n, err := binary.ReadUvarint(br)
	if err != nil || n > 1<<16 {
		return nil, fmt.Errorf("%w: parameters", ErrFormat)
	}
	pj := make([]byte, n)
	if _, err := io.ReadFull(br, pj); err != nil {
		return nil, fmt.Errorf("%w: parameters: %w", ErrFormat, err)
	}
	var p Params
	if err := json.Unmarshal(pj, &p); err != nil {
		return nil, fmt.Errorf("%w: parameters: %w", ErrFormat, err)
	}
	if p.Features.Bits < 8 || p.Features.Bits > 24 {
		return nil, fmt.Errorf("%w: hash bits %d", ErrFormat, p.Features.Bits)
	}
	if !p.Features.Valid() {
		return nil, fmt.Errorf("%w: features %+v", ErrFormat, p.Features)
	}
	if math.IsNaN(p.MetaWeight) || math.IsInf(p.MetaWeight, 0) {
		return nil, fmt.Errorf("%w: meta view weight", ErrFormat)
	}
	if !validMinFeatures(p.MinFeatures) {
		return nil, fmt.Errorf("%w: minimum feature counts %v", ErrFormat, p.MinFeatures)
	}
	if !validFeedback(p) || (v2 || v3) && p.spreadsFeedback() {
		return nil, fmt.Errorf("%w: feedback step %v, spread %v / %v", ErrFormat, p.FeedbackRate, p.FeedbackHalf, p.FeedbackHalfHam)
	}
	if !p.Seq.valid() || (v2 && p.Seq.enabled()) {
		return nil, fmt.Errorf("%w: sequence view %+v", ErrFormat, p.Seq)
	}
	m := newModel(p)
	for v := range m.views() {
		var bias uint32
		if err := binary.Read(br, binary.LittleEndian, &bias); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrFormat, err)
		}
		m.bias[v].Store(bias)
	}
	nz, err := binary.ReadUvarint(br)
	if err != nil || nz > uint64(len(m.weights)) {
		return nil, fmt.Errorf("%w: weight count", ErrFormat)
	}
	idx := make([]uint32, nz)
	last := uint64(0)
	for k := range idx {
		d, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, fmt.Errorf("%w: weights: %w", ErrFormat, err)
		}
		last += d
		if last >= uint64(len(m.weights)) {
			return nil, fmt.Errorf("%w: weight index out of range", ErrFormat)
		}
		idx[k] = uint32(last)
	}
	width, err := br.ReadByte()
	if err != nil || (width != 2 && width != 4) {
		return nil, fmt.Errorf("%w: weight width", ErrFormat)
	}
	var b4 [4]byte
	for _, i := range idx {
		if _, err := io.ReadFull(br, b4[:width]); err != nil {
			return nil, fmt.Errorf("%w: weights: %w", ErrFormat, err)
		}
		var v uint32
		if width == 2 {
			v = uint32(binary.LittleEndian.Uint16(b4[:2])) << 16
		} else {
			v = binary.LittleEndian.Uint32(b4[:])
		}
		if f := math.Float32frombits(v); math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, fmt.Errorf("%w: weight not finite", ErrFormat)
		}
		m.weights[i] = v
	}
	if v2 {
		return m, nil
	}
	n, err = binary.ReadUvarint(br)
	want := uint64(0)
	if p.Seq.enabled() {
		want = 1 << p.Seq.Bits
	}
	if err != nil || n != want {
		return nil, fmt.Errorf("%w: sequence table size", ErrFormat)
	}
	if n > 0 {
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, fmt.Errorf("%w: sequence table: %w", ErrFormat, err)
		}
		m.seq = make([]int8, n)
		for i, v := range b {
			if int8(v) == -128 {
				return nil, fmt.Errorf("%w: sequence table value out of range", ErrFormat)
			}
			m.seq[i] = int8(v)
		}
	}
	if !v3 {
		n, err = binary.ReadUvarint(br)
		want = 0
		if p.spreadsFeedback() {
			want = uint64(len(m.weights))
		}
		if err != nil || n != want {
			return nil, fmt.Errorf("%w: document frequency table size", ErrFormat)
		}
		if n > 0 {
			m.df = make([]uint8, n)
			if _, err := io.ReadFull(br, m.df); err != nil {
				return nil, fmt.Errorf("%w: document frequencies: %w", ErrFormat, err)
			}
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the last table", ErrFormat)
	}
	return m, nil
}

// LoadFile reads a model file.
func LoadFile(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	defer f.Close()
	return Load(bufio.NewReader(f))
}
