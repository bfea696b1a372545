package service

import (
	"strings"
	"testing"
	"time"
)

func TestLogKeyRoundTrip(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123).UTC()
	tests := []struct {
		name   string
		stream string
		offset int64
	}{
		{"stdout at its start", "stdout", 0},
		{"stderr further on", "stderr", 123456},
		{"the cut marker: no offset", "stdout", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := logKey("tsk_x", 7, tt.stream, tt.offset, at)
			ch, off, ok := parseLogKey(strings.TrimPrefix(key, logPrefix("tsk_x")))
			if !ok || ch.Seq != 7 || ch.Stream != tt.stream || off != tt.offset || !ch.Time.Equal(at) {
				t.Errorf("parseLogKey(%q) = %+v, %d, %v", key, ch, off, ok)
			}
		})
	}
}

func TestParseLogKey(t *testing.T) {
	tests := []struct {
		name, key string
		ok        bool
		seq, off  int64
	}{
		{"stored before offsets were kept", "000000000003-stderr-1700000000123", true, 3, -1},
		{"with an offset", "000000000004-stdout-99-1700000000123", true, 4, 99},
		{"unknown stream", "000000000004-stdin-99-1700000000123", false, 0, 0},
		{"negative offset", "000000000004-stdout--1-1700000000123", false, 0, 0},
		{"offset not a number", "000000000004-stdout-x-1700000000123", false, 0, 0},
		{"too many parts", "000000000004-stdout-1-2-3", false, 0, 0},
		{"too few parts", "000000000004-stdout", false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, off, ok := parseLogKey(tt.key)
			if ok != tt.ok || (ok && (ch.Seq != tt.seq || off != tt.off)) {
				t.Errorf("parseLogKey(%q) = %+v, %d, %v; want ok %v, seq %d, offset %d", tt.key, ch, off, ok, tt.ok, tt.seq, tt.off)
			}
		})
	}
}
