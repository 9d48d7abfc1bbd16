package main

import (
	"bytes"
	"testing"
)

func TestFeedChunks(t *testing.T) {
	tests := []struct {
		name      string
		data      string
		max       int
		wantLines []int
		wantParts []string
	}{
		{"empty", "", 10, nil, nil},
		{"fits", "a\nb\n", 10, []int{1}, []string{"a\nb\n"}},
		{"split at lines", "aaa\nbbb\nccc\n", 8, []int{1, 3}, []string{"aaa\nbbb\n", "ccc\n"}},
		{"long line alone", "aaaaaaaaaaaa\nb\n", 4, []int{1, 2}, []string{"aaaaaaaaaaaa\n", "b\n"}},
		{"no final newline", "aaa\nbb", 4, []int{1, 2}, []string{"aaa\n", "bb"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var lines []int
			var parts []string
			var joined bytes.Buffer
			for line, part := range feedChunks([]byte(tc.data), tc.max) {
				lines = append(lines, line)
				parts = append(parts, string(part))
				joined.Write(part)
			}
			if joined.String() != tc.data {
				t.Fatalf("chunks join to %q, want %q", joined.String(), tc.data)
			}
			if len(parts) != len(tc.wantParts) {
				t.Fatalf("parts %q, want %q", parts, tc.wantParts)
			}
			for i := range parts {
				if parts[i] != tc.wantParts[i] || lines[i] != tc.wantLines[i] {
					t.Fatalf("part %d = %q at line %d, want %q at line %d", i, parts[i], lines[i], tc.wantParts[i], tc.wantLines[i])
				}
			}
		})
	}
}
