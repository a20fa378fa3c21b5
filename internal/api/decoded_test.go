package api

import "testing"

func TestDecodedBytes(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		values int64
		text   int64 // bytes of string text
	}{
		{"empty object", `{}`, 1, 0},
		{"every kind", `[1,"a\"b",true,null,{"k":[]}]`, 8, 5},
		{"delimiters inside a string", `"x,y]}{[\\"`, 1, 9},
		{"a number with exponent", ` -1.5e+3 `, 1, 0},
		{"keys count", `{"a":1,"b":{"c":2}}`, 7, 3},
		{"empty objects", `[{},{},{}]`, 4, 0},
		{"white space is free", "  [ 1 ,\n 2 ]    ", 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.values*decodedValueBytes + tt.text
			if got := decodedBytes([]byte(tt.data)); got != want {
				t.Errorf("decodedBytes(%s) = %d, want %d (%d values)", tt.data, got, want, tt.values)
			}
		})
	}
}
