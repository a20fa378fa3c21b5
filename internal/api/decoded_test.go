package api

import "testing"

func TestDecodedBytes(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		values int64
	}{
		{"empty object", `{}`, 1},
		{"every kind", `[1,"a\"b",true,null,{"k":[]}]`, 8},
		{"delimiters inside a string", `"x,y]}{[\\"`, 1},
		{"a number with exponent", ` -1.5e+3 `, 1},
		{"keys count", `{"a":1,"b":{"c":2}}`, 7},
		{"empty objects", `[{},{},{}]`, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.values*decodedValueBytes + int64(len(tt.data))
			if got := decodedBytes([]byte(tt.data)); got != want {
				t.Errorf("decodedBytes(%s) = %d, want %d (%d values)", tt.data, got, want, tt.values)
			}
		})
	}
}
