package docker

import "testing"

func TestOwnerOptions(t *testing.T) {
	tests := []struct{ user, want string }{
		{"", ""},
		{"0", "uid=0,gid=0,"},
		{"65534", "uid=65534,gid=65534,"},
		{"65534:100", "uid=65534,gid=100,"},
		{"1000:staff", "uid=1000,"},
		{"nobody", ""},
	}
	for _, tt := range tests {
		if got := ownerOptions(tt.user); got != tt.want {
			t.Errorf("ownerOptions(%q) = %q, want %q", tt.user, got, tt.want)
		}
	}
}
